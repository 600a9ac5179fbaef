import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Paper } from '../../src/core/paper.js';
import { parseQuery, type Query } from '../../src/core/query/index.js';
import {
  type DeliveryPlan,
  expandPlan,
  type Subscription,
  type Target,
} from '../../src/core/subscription.js';
import { ingest } from '../../src/pipeline/ingest.js';
import { PaperLibrary } from '../../src/pipeline/library.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';
import { sub } from '../helpers/subscriptions.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
const q = (text: string): Query => {
  const r = parseQuery(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.query;
};

let store: Store;
let local: PaperLibrary;
let threaded: PaperLibrary;

beforeAll(async () => {
  store = await openStore(`sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-lib-')), 'store.sqlite')}`);
  await ingest([{ name: 'seeds', type: 'digest', path: SEEDS }], {
    store,
    failingAfter: 3,
    failingBackoffMinutes: 30,
    failingBackoffMaxMinutes: 60,
    concurrency: 1,
  });
  local = await PaperLibrary.load(store);
  threaded = await PaperLibrary.load(store, { searchThread: 'worker' });
});
afterAll(async () => {
  await threaded.close();
  await store.close();
});

const channel: Target = { kind: 'channel', channelId: '7' };
const user: Target = { kind: 'user', userId: '8' };
const subsA = [
  sub(channel, 'multi-task', false),
  sub(channel, 'agent*', true),
  sub(user, '"reinforcement learning" OR robot*', true),
  sub(user, 'diffusion -survey', false),
];
// One gone, one new.
const subsB = [...subsA.slice(1), sub(channel, '/transformer/i', true)];

/** The stored papers, every third one as an update (which only some subscriptions want). */
async function step(): Promise<Array<{ paper: Paper; kind: 'new' | 'update' }>> {
  const out: Array<{ paper: Paper; kind: 'new' | 'update' }> = [];
  for await (const paper of store.papers.iterate())
    out.push({
      paper: { ...paper, updatedAt: '2026-11-23T00:00:00.000Z' },
      kind: out.length % 3 === 2 ? 'update' : 'new',
    });
  return out;
}

describe('planning on the search thread', () => {
  const now = new Date('2026-11-23T01:00:00.000Z');
  // Libraries of their own: planning indexes the papers again, which the searches above compare.
  let local: PaperLibrary;
  let threaded: PaperLibrary;
  beforeAll(async () => {
    local = await PaperLibrary.load(store);
    threaded = await PaperLibrary.load(store, { searchThread: 'worker' });
  });
  afterAll(async () => {
    await threaded.close();
  });

  it('plans exactly as on this thread, for each subscription set in turn', async () => {
    const papers = await step();
    for (const subs of [subsA, subsB, subsA]) {
      const got = await threaded.plan(papers, subs, now);
      expect(got).toEqual(await local.plan(papers, subs, now));
      expect(got.count).toBeGreaterThan(50);
      // Updates reached only the subscriptions that asked for them.
      expect(got.groups.some((g) => g.extra.some((x) => x[1] === 'update'))).toBe(true);
      const named = new Set(got.groups.flatMap((g) => g.subs));
      for (const s of subs) if (!named.has(s.id)) expect(s.query).toBe('diffusion -survey');
      if (subs === subsB) expect(named.has(subsA[0]?.id as string)).toBe(false);
    }
  });

  it('compiles a set handed over ahead of its plans, and plans with the set a plan names', async () => {
    const papers = await step();
    // B is sent to the thread with no plan asked for yet; the plan then finds it there.
    threaded.prepare(subsB);
    await threaded.sync();
    expect(await threaded.plan(papers, subsB, now)).toEqual(await local.plan(papers, subsB, now));
    // Handed A, then asked to plan B: the plan is B's.
    threaded.prepare(subsA);
    const got = await threaded.plan(papers, subsB, now);
    expect(got).toEqual(await local.plan(papers, subsB, now));
    expect(got).not.toEqual(await local.plan(papers, subsA, now));
    // On this thread there is nothing to hand over: planning is as before.
    local.prepare(subsA);
    expect(await local.plan(papers, subsA, now)).toEqual(await threaded.plan(papers, subsA, now));
  });

  it('plans again when a subscription made again differs only in wanting updates', async () => {
    const papers = await step();
    const first = subsA[0] as Subscription;
    // Removed and made again with updates: the same id and query, new objects.
    const again = [{ ...first, notifyUpdates: true }, ...subsA.slice(1).map((s) => ({ ...s }))];
    const updatedFor = (plan: DeliveryPlan) =>
      expandPlan(plan).filter((d) => d.kind === 'update' && d.subscriptionIds.includes(first.id));
    for (const lib of [threaded, local]) {
      expect(updatedFor(await lib.plan(papers, subsA, now))).toEqual([]);
      expect(updatedFor(await lib.plan(papers, again, now)).length).toBeGreaterThan(0);
    }
  });

  it('indexes the papers it planned: a search sent after sees them', async () => {
    const papers = (await step()).slice(0, 3).map(({ paper }, i) => ({
      paper: { ...paper, id: `test:planned-${i}`, title: `Zyxwvut planning ${i}` },
      kind: 'new' as const,
    }));
    await threaded.plan(papers, subsA, now);
    const found = await threaded.search(q('zyxwvut'), { limit: 10 });
    expect(found.hits.map((h) => h.paperId).sort()).toEqual([
      'test:planned-0',
      'test:planned-1',
      'test:planned-2',
    ]);
  });

  it('indexes after planning, yet a search sees every paper planned before it, and none after', async () => {
    // More papers than the thread lets wait unindexed (6000), in steps as a cycle sends them.
    const base = (await step())[0]?.paper as Paper;
    const batch = (b: number) =>
      Array.from({ length: 2500 }, (_, i) => ({
        paper: {
          ...base,
          id: `test:deferred-${b}-${i}`,
          title: `Vwxyzzy deferred indexing ${b} ${i}`,
          abstract: `Batch qqbatch${b} of papers planned before they are indexed.`,
        },
        kind: 'new' as const,
      }));
    const ids = (hits: Array<{ paperId: string }>) => hits.map((h) => h.paperId).sort();
    const first = [batch(0), batch(1), batch(2)];
    // Libraries of its own, so both indexes hold the same papers and rank alike.
    const threaded = await PaperLibrary.load(store, { searchThread: 'worker' });
    const local = await PaperLibrary.load(store);
    try {
      // Sent without waiting: the search is queued behind three plans and before the fourth.
      const plans = first.map((papers) => threaded.plan(papers, subsA, now));
      const before = threaded.search(q('vwxyzzy'), { limit: 100_000 });
      const last = threaded.plan(batch(3), subsA, now);
      await Promise.all([...plans, last]);
      const seen = await before;
      expect(seen.total).toBe(7500);
      expect(ids(seen.hits)).toEqual(
        first
          .flat()
          .map((x) => x.paper.id)
          .sort(),
      );
      const after = await threaded.search(q('vwxyzzy'), { limit: 100_000 });
      expect(after.total).toBe(10_000);
      // Ranked as the index on this thread ranks the same papers.
      for (const papers of [...first, batch(3)]) await local.plan(papers, subsA, now);
      expect(await threaded.search(q('qqbatch3 OR deferred'), { limit: 50 })).toEqual(
        await local.search(q('qqbatch3 OR deferred'), { limit: 50 }),
      );
    } finally {
      await threaded.close();
    }
  });

  it('plans on a thread started again out of heap, sent the subscriptions again first', async () => {
    const small = await PaperLibrary.load(store, { searchThread: 'worker', searchHeapMb: 4 });
    try {
      const papers = await step();
      expect(await small.plan(papers, subsA, now)).toEqual(await local.plan(papers, subsA, now));
      expect(small.searchRestarts).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  });

  it('tells how long its thread has been busy, and grows with the work sent', async () => {
    expect(local.searchBusyMs).toBeUndefined();
    const before = threaded.searchBusyMs as number;
    expect(before).toBeGreaterThan(0);
    await threaded.plan(await step(), subsA, now);
    expect(threaded.searchBusyMs as number).toBeGreaterThan(before);
  });

  it('fails a plan once the library is closed', async () => {
    const other = await PaperLibrary.load(store, { searchThread: 'worker' });
    await other.close();
    await expect(other.plan(await step(), subsA, now)).rejects.toThrow(/closed/);
  });
});

describe('the search index on its own thread', () => {
  it.each([
    'multi-task',
    '"mixture of experts"',
    'robot* -survey',
    '/diffusion|transformer/i',
    'title:agent OR abstract:"reinforcement learning"',
    'agent* -survey',
  ])('answers %s exactly as the index on this thread, page by page', async (text) => {
    for (const opts of [
      { limit: 5 },
      { limit: 5, offset: 5 },
      { limit: 1000, since: new Date('2026-01-01') },
    ]) {
      const got = await threaded.search(q(text), opts);
      expect(got).toEqual(await local.search(q(text), opts));
    }
    expect((await local.search(q(text), { limit: 1 })).total).toBeGreaterThan(0);
  });

  it('sees papers added before a search, in order', async () => {
    const paper: Paper = {
      id: 'arxiv:2612.00001',
      title: 'Zyzzogeton retrieval for threaded indexes',
      abstract: 'We index on another thread.',
      authors: ['Ada Lovelace'],
      categories: ['cs.IR'],
      links: { code: [] },
      sources: ['test'],
      firstSeen: '2026-12-01T00:00:00.000Z',
    };
    threaded.add([paper]);
    expect((await threaded.search(q('zyzzogeton'), { limit: 5 })).hits.map((h) => h.paperId)).toEqual([
      paper.id,
    ]);
    expect(await threaded.count()).toBe((await local.count()) + 1);
  });

  it('fails the searches waiting on a thread that died, and starts a new one from the store', async () => {
    // The thread dies (an out-of-memory kill, a bug): what it was asked is answered with an error.
    const index = (threaded as unknown as { index: { worker: { terminate(): Promise<number> } } }).index;
    const pending = threaded.search(q('multi-task'), { limit: 1000 });
    await index.worker.terminate();
    await expect(pending).rejects.toThrow(/search index thread stopped/);
    // The next search starts a new thread, filled again from the store (which never had the
    // paper the test before added only to the index).
    const after = await threaded.search(q('multi-task'), { limit: 1000 });
    expect(after.total).toBe(143);
    expect(after).toEqual(await local.search(q('multi-task'), { limit: 1000 }));
  });

  it('lets the process exit while idle, closed or not', async () => {
    const script = join(import.meta.dirname, '../fixtures/library-exits.ts');
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
      timeout: 20_000,
    });
    expect(stdout).toBe('done\n');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('starts a thread that ran out of heap again with twice as much, and answers what it was asked', async () => {
    // 4 MB cannot even hold the thread's own modules: it is started again until it fits.
    const small = await PaperLibrary.load(store, { searchThread: 'worker', searchHeapMb: 4 });
    try {
      const got = await small.search(q('multi-task'), { limit: 1000 });
      expect(got).toEqual(await local.search(q('multi-task'), { limit: 1000 }));
      expect(small.searchRestarts).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  });

  it('fails a search still waiting when the library is closed, instead of leaving it hanging', async () => {
    const lib = await PaperLibrary.load(store, { searchThread: 'worker' });
    // Keep the thread busy indexing, so the search is sent and still waiting when the library closes.
    lib.add(
      Array.from({ length: 20_000 }, (_, i) => ({
        id: `busy:${i}`,
        title: `busy paper ${i}`,
        abstract: 'words to index '.repeat(40),
        authors: [],
        categories: [],
        links: { code: [] },
        sources: ['test'],
        firstSeen: '2026-12-01T00:00:00.000Z',
      })),
    );
    const pending = expect(lib.search(q('multi-task'), { limit: 10 })).rejects.toThrow(/closed/);
    await new Promise((r) => setImmediate(r));
    await lib.close();
    await pending;
    await expect(lib.search(q('multi-task'), { limit: 1 })).rejects.toThrow(/closed/);
  });
});
