import { describe, expect, it } from 'vitest';
import type { Paper } from '../../src/core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  type Matcher,
  parseQuery,
  type Query,
} from '../../src/core/query/index.js';
import {
  type Delivery,
  deliveryId,
  expandPlan,
  type Subscription,
  type Target,
  targetKey,
} from '../../src/core/subscription.js';
import { planDeliveries } from '../../src/pipeline/library.js';
import { planByTarget, planWire, unpackPlan } from '../../src/pipeline/plan.js';
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

/**
 * What planning means, one delivery at a time: per paper and target, the target's hits in the
 * matcher's order, the best one's score, and their words each once in the order they come.
 */
function referencePlan(
  papers: ReadonlyArray<{ paper: Paper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  byId: ReadonlyMap<string, Subscription>,
  createdAt: string,
): Delivery[] {
  const out: Delivery[] = [];
  for (const { paper, kind } of papers) {
    const byTarget = new Map<string, Delivery>();
    for (const hit of matcher.match(analyzePaper(paper))) {
      const s = byId.get(hit.subscriptionId) as Subscription;
      if (kind === 'update' && !s.notifyUpdates) continue;
      const key = targetKey(s.target);
      let d = byTarget.get(key);
      if (!d) {
        d = {
          id: deliveryId(s.target, paper.id, kind === 'update' ? paper.updatedAt : undefined),
          target: s.target,
          paperId: paper.id,
          subscriptionIds: [],
          score: hit.score,
          terms: [],
          kind,
          createdAt,
          state: 'pending',
          attempts: 0,
        };
        byTarget.set(key, d);
      }
      d.subscriptionIds.push(s.id);
      for (const w of hit.terms) if (!d.terms.includes(w)) d.terms.push(w);
    }
    out.push(...byTarget.values());
  }
  return out;
}

const byDeliveryId = (ds: Delivery[]) => [...ds].sort((a, b) => a.id.localeCompare(b.id));

describe('the plan as it crosses threads', () => {
  const subs = [
    sub(channel, 'agents'),
    sub(me, 'agent*', true),
    sub(me, 'multitask'),
    sub(channel, 'robots OR task*'),
  ];
  const matcher = compileMatcher(subs.map((s) => ({ id: s.id, query: q(s.query) })));
  const byId = new Map(subs.map((s) => [s.id, s]));
  const other: Paper = { ...paper, id: 'arxiv:2411.00001', title: 'Agents for multitask robots' };
  const third: Paper = { ...paper, id: 'arxiv:2411.00002', title: 'Robots', abstract: 'Tasks for robots.' };
  const now = new Date('2026-11-22T01:00:00Z');

  it('comes back from typed arrays as one delivery at a time plans it, extra rows and all', () => {
    const papers = [
      { paper, kind: 'update' as const },
      { paper: other, kind: 'new' as const },
      { paper: third, kind: 'new' as const },
    ];
    const { wire, transfer } = planWire(papers, matcher, byId, now);
    expect(transfer.every((b) => b instanceof ArrayBuffer)).toBe(true);
    expect(wire.extra.length).toBeGreaterThan(0);
    // Moved to another thread: the buffers go, the clone keeps them.
    const sent = structuredClone(wire, { transfer });
    expect(wire.rowPaper.length).toBe(0);
    const plan = unpackPlan(
      sent,
      papers.map((p) => p.paper.id),
      subs.map((s) => s.id),
    );
    const want = referencePlan(papers, matcher, byId, now.toISOString());
    expect(want.map((d) => d.id).sort()).toEqual([
      'channel:1|arxiv:2411.00001',
      'channel:1|arxiv:2411.00002',
      'user:2|arxiv:2411.00001',
      'user:2|arxiv:2411.17700|u:2026-11-22T00:00:00.000Z',
    ]);
    expect(want.find((d) => d.id === 'channel:1|arxiv:2411.00001')?.subscriptionIds).toHaveLength(2);
    expect(plan.count).toBe(want.length);
    expect(byDeliveryId(expandPlan(plan))).toEqual(byDeliveryId(want));
    expect(byDeliveryId(planDeliveries(papers, matcher, byId, now))).toEqual(byDeliveryId(want));
  });

  it('names each subscription once in the set it was planned against', () => {
    const { wire } = planWire([{ paper: other, kind: 'new' }], matcher, byId, now);
    const order = [...byId.keys()];
    for (let g = 0; g < wire.targets.length; g++) {
      const mine = [...wire.subs.subarray(wire.subStart[g], wire.subStart[g + 1])].map((i) => order[i]);
      expect(new Set(mine).size).toBe(mine.length);
      for (const id of mine)
        expect(targetKey(byId.get(id as string)?.target as Target)).toBe(
          targetKey(wire.targets[g] as Target),
        );
    }
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

describe('a large step', () => {
  it('plans as one delivery at a time does while the planner’s scratch grows, step after step', () => {
    // 40 targets, each with subscriptions that share words: a paper hits ~a dozen of them, with
    // one to a few words each, and its targets come in no order.
    const words = ['agent', 'robot', 'vision', 'language', 'graph', 'policy', 'reward', 'memory'];
    const subs = Array.from({ length: 160 }, (_, i) => {
      const a = words[i % words.length] as string;
      const b = words[(i * 3 + 1) % words.length] as string;
      const text = [a, `${a} OR ${b}`, `"${a} ${b}"`, `${a.slice(0, 3)}* -${b}`][i % 4] as string;
      const target: Target =
        i % 5 === 0
          ? { kind: 'user', userId: String(i % 40) }
          : { kind: 'channel', channelId: String(i % 40) };
      return sub(target, text, i % 3 === 0);
    });
    const matcher = compileMatcher(subs.map((s) => ({ id: s.id, query: q(s.query) })));
    const byId = new Map(subs.map((s) => [s.id, s]));
    let seed = 7;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const text = (n: number) =>
      Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    const step = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        paper: { ...paper, id: `test:${from + i}`, title: text(4), abstract: `${text(12)} robots.` },
        kind: (i % 7 === 0 ? 'update' : 'new') as 'new' | 'update',
      }));
    const now = new Date('2026-11-22T01:00:00Z');
    let from = 0;
    // Steps of growing size: every array of the scratch outgrows what it had, each at its own time.
    for (const n of [50, 700, 2500, 4000, 300]) {
      const papers = step(from, n);
      from += n;
      const want = referencePlan(papers, matcher, byId, now.toISOString());
      expect(want.length).toBeGreaterThan(5 * n);
      const plan = planByTarget(papers, matcher, byId, now);
      expect(plan.count).toBe(want.length);
      expect(byDeliveryId(expandPlan(plan))).toEqual(byDeliveryId(want));
    }
  });
});
