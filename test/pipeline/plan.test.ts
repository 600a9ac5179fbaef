import { describe, expect, it } from 'vitest';
import type { Paper } from '../../src/core/paper.js';
import { analyzePaper, compileMatcher, parseQuery, type Query } from '../../src/core/query/index.js';
import type { Target } from '../../src/core/subscription.js';
import { planDeliveries } from '../../src/pipeline/library.js';
import { packPlan, planByTarget, unpackPlan } from '../../src/pipeline/plan.js';
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

describe('the plan as it crosses threads', () => {
  const subs = [sub(channel, 'agents'), sub(me, 'agent*', true), sub(me, 'multitask')];
  const matcher = compileMatcher(subs.map((s) => ({ id: s.id, query: q(s.query) })));
  const byId = new Map(subs.map((s) => [s.id, s]));
  const other: Paper = { ...paper, id: 'arxiv:2411.00001', title: 'Agents for multitask robots' };

  it('comes back as it was planned, extra rows and all, from typed arrays', () => {
    const papers = [
      { paper, kind: 'update' as const },
      { paper: other, kind: 'new' as const },
    ];
    const plan = planByTarget(papers, matcher, byId, new Date('2026-11-22T01:00:00Z'));
    expect(plan.groups.some((g) => g.extra.length > 0)).toBe(true);
    const paperIds = papers.map((p) => p.paper.id);
    const subIds = subs.map((s) => s.id).reverse();
    const { wire, transfer } = packPlan(
      plan,
      new Map(paperIds.map((id, i) => [id, i])),
      new Map(subIds.map((id, i) => [id, i])),
    );
    expect(transfer.every((b) => b instanceof ArrayBuffer)).toBe(true);
    expect(unpackPlan(structuredClone(wire), paperIds, subIds)).toEqual(plan);
  });

  it('refuses a plan naming a paper the receiver was not sent', () => {
    const plan = planByTarget([{ paper, kind: 'new' }], matcher, byId, new Date('2026-11-22T01:00:00Z'));
    expect(() => packPlan(plan, new Map(), new Map(subs.map((s, i) => [s.id, i])))).toThrow(
      /not in the request/,
    );
  });
});

describe("a target's words", () => {
  it('are each row’s matched words, for many words a step and step after step', () => {
    const s = sub(channel, 'wx*');
    const matcher = compileMatcher([{ id: s.id, query: q(s.query) }]);
    const byId = new Map([[s.id, s]]);
    // Every paper its own three words, so the target's words outgrow any small table.
    const step = (from: number) =>
      Array.from({ length: 40 }, (_, i) => {
        const n = from + i;
        return {
          paper: {
            ...paper,
            id: `test:${n}`,
            title: `wx${n}a wx${n}b wx${n % 7}c`,
            abstract: 'nothing else',
          },
          kind: 'new' as const,
        };
      });
    for (const from of [0, 1000, 0]) {
      const papers = step(from);
      const now = new Date('2026-11-22T01:00:00Z');
      // The group lists each word once: 2 of each paper's own and the 7 shared.
      const [group] = planByTarget(papers, matcher, byId, now).groups;
      expect(group?.words).toHaveLength(new Set(group?.words).size);
      expect(group?.words).toHaveLength(2 * papers.length + 7);
      const ds = planDeliveries(papers, matcher, byId, now);
      expect(ds).toHaveLength(papers.length);
      for (const d of ds) {
        const p = papers.find((x) => x.paper.id === d.paperId)?.paper as Paper;
        expect(d.terms).toEqual(matcher.match(analyzePaper(p))[0]?.terms);
        expect(d.terms).toHaveLength(3);
      }
    }
  });
});
