import { describe, expect, it } from 'vitest';
import type { Paper } from '../../src/core/paper.js';
import { compileMatcher, parseQuery, type Query } from '../../src/core/query/index.js';
import type { Target } from '../../src/core/subscription.js';
import { planDeliveries } from '../../src/pipeline/library.js';
import { sub } from '../helpers/subscriptions.js';

const q = (text: string) => (parseQuery(text) as { ok: true; query: Query }).query;
const channel: Target = { kind: 'channel', channelId: '1' };
const me: Target = { kind: 'user', userId: '2' };

const paper: Paper = {
  id: 'arxiv:2411.17700',
  arxivId: '2411.17700',
  version: 2,
  title: 'Multi-Task Agents',
  abstract: 'We propose agents.',
  authors: [],
  categories: [],
  links: { code: [] },
  sources: ['test'],
  firstSeen: '2026-11-20T00:00:00.000Z',
  updatedAt: '2026-11-22T00:00:00.000Z',
};

describe('planning deliveries', () => {
  const subs = [
    sub(channel, 'multitask'),
    sub(channel, 'agents'),
    sub(me, 'agent*', true),
    sub(me, 'robots'),
  ];
  const matcher = compileMatcher(subs.map((s) => ({ id: s.id, query: q(s.query) })));
  const byId = new Map(subs.map((s) => [s.id, s]));

  it('makes one delivery per target, naming every subscription of it that matched', () => {
    const ds = planDeliveries([{ paper, kind: 'new' }], matcher, byId, new Date('2026-11-22T01:00:00Z'));
    expect(ds.map((d) => d.id).sort()).toEqual(['channel:1|arxiv:2411.17700', 'user:2|arxiv:2411.17700']);
    const ch = ds.find((d) => d.target.kind === 'channel');
    expect(ch?.subscriptionIds.sort()).toEqual([subs[0]?.id, subs[1]?.id].sort());
    expect(ch?.terms).toEqual(expect.arrayContaining(['multitask', 'agents']));
  });

  it('posts an update only to subscriptions that asked for updates, under its own id', () => {
    const ds = planDeliveries([{ paper, kind: 'update' }], matcher, byId, new Date('2026-11-22T01:00:00Z'));
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({
      kind: 'update',
      target: me,
      id: 'user:2|arxiv:2411.17700|u:2026-11-22T00:00:00.000Z',
    });
  });
});
