import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Paper } from '../../src/core/paper.js';
import { type Subscription, subscriptionId, type Target } from '../../src/core/subscription.js';
import {
  MATCH_BACKLOG,
  matchBehind,
  matchNewPapers,
  runCycle,
  stagePapers,
} from '../../src/pipeline/cycle.js';
import { type IngestOptions, ingest, type SourceSpec } from '../../src/pipeline/ingest.js';
import { PaperLibrary } from '../../src/pipeline/library.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
const seeds: SourceSpec[] = [{ name: 'seeds', type: 'digest', path: SEEDS }];
/** One source per seed dump, in name order. */
const seedFiles = (): SourceSpec[] =>
  readdirSync(SEEDS)
    .sort()
    .map((f) => ({ name: f, type: 'digest', path: join(SEEDS, f) }));
const target: Target = { kind: 'channel', channelId: '1' };
const subscription: Subscription = {
  id: subscriptionId(target, 'multi-task'),
  target,
  query: 'multi-task',
  createdBy: 'test',
  createdAt: '2026-11-22T10:00:00.000Z',
  mode: 'immediate',
  notifyUpdates: false,
  backfillHours: 0,
};

let url: string;
let store: Store;
const options = (s: Store): Omit<IngestOptions, 'store'> & { store: Store } => ({
  store: s,
  failingAfter: 2,
  failingBackoffMinutes: 30,
  failingBackoffMaxMinutes: 120,
  concurrency: 2,
});

beforeEach(async () => {
  url = `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-journal-')), 'store.sqlite')}`;
  store = await openStore(url);
  await store.subscriptions.put(subscription);
});
afterEach(async () => {
  await store.close();
});

describe('the match journal', () => {
  it('plans the matches of papers a killed cycle stored but never matched', async () => {
    // The ingest half of a cycle, then the process dies before matching.
    const first = await ingest(seeds, { ...options(store), journal: true });
    expect(first.new).toBe(544);
    expect(await store.outbox.pending('channel:1')).toHaveLength(0);
    await store.close();

    store = await openStore(url);
    const cycle = await runCycle({
      ...options(store),
      library: await PaperLibrary.load(store),
      sources: seeds,
    });
    // The files are unchanged, so nothing is new in this pass: the matches come from the journal.
    expect(cycle.ingest.new).toBe(0);
    expect(cycle.match.enqueued).toBe(143);
    expect(await store.outbox.pending('channel:1')).toHaveLength(143);
    expect(await store.journal.list()).toEqual([]);
  });

  it('posts nothing twice when a journal entry is replayed after its matches were enqueued', async () => {
    await ingest(seeds, { ...options(store), journal: true });
    const entries = await store.journal.list();
    expect(entries.length).toBeGreaterThan(0);
    const library = await PaperLibrary.load(store);
    await matchNewPapers(store, library, new Date('2026-11-22T12:00:00Z'));
    const pending = await store.outbox.pending('channel:1');
    expect(pending).toHaveLength(143);
    await store.outbox.markSent(
      pending.slice(0, 50).map((d) => d.id),
      { messageId: 'm1', sentAt: '2026-11-22T12:01:00.000Z' },
    );
    // The state a kill between the enqueue and the journal's removal leaves behind.
    for (const e of entries) await store.journal.add(e);
    const again = await matchNewPapers(store, library, new Date('2026-11-22T13:00:00Z'));
    expect(again.matched).toBe(143);
    const after = await store.outbox.pending('channel:1');
    expect(after).toHaveLength(93);
    expect(new Set(after.map((d) => d.id)).size).toBe(93);
    expect(after.some((d) => pending.slice(0, 50).some((s) => s.id === d.id))).toBe(false);
    expect(await store.journal.list()).toEqual([]);
  });

  it('posts a paper first seen and changed in the same pass once, as new', async () => {
    const updates = {
      ...subscription,
      id: 'sub:agentorchestra',
      query: 'title:AgentOrchestra',
      notifyUpdates: true,
    };
    await store.subscriptions.put(updates);
    const report = await ingest(seeds, { ...options(store), journal: true });
    // One dump has it first, a later one with another abstract: an update within the pass.
    expect(report.updated).toBe(1);
    // One matching step per journal entry (per digest file), so the two sightings are apart.
    await matchNewPapers(store, await PaperLibrary.load(store), new Date('2026-11-22T12:00:00Z'), {
      stepSize: 1,
    });
    const agent = (await store.outbox.pending('channel:1')).filter((d) =>
      d.subscriptionIds.includes('sub:agentorchestra'),
    );
    expect(agent).toHaveLength(1);
    expect(agent[0]?.kind).toBe('new');
  });

  it('replays a pass killed before it listed what it wrote: each match pending once', async () => {
    await ingest(seeds, { ...options(store), journal: true });
    const entries = (await store.journal.list()).map((e) => e.id).sort();
    const library = await PaperLibrary.load(store);
    const unlisted = { records: [], entries: new Set<string>(), papers: 0 };
    const written = await matchNewPapers(store, library, new Date('2026-11-22T12:00:00Z'), {
      stepSize: 100,
      unlisted,
    });
    // Written, not listed: no reader sees them, and the journal still has every entry.
    expect(written.enqueued).toBe(143);
    expect(unlisted.records.length).toBeGreaterThan(1);
    expect([...unlisted.entries].sort()).toEqual(entries);
    // 544 new papers, and the one seen again with another abstract.
    expect(unlisted.papers).toBe(545);
    expect(await store.outbox.pending('channel:1')).toHaveLength(0);
    expect((await store.journal.list()).map((e) => e.id).sort()).toEqual(entries);
    // A call with the same holder skips what it holds.
    const skipped = await matchNewPapers(store, library, new Date('2026-11-22T12:00:00Z'), { unlisted });
    expect(skipped.papers).toBe(0);
    // The process dies here; the next pass replays the journal, steps grouped another way.
    const again = await matchNewPapers(store, library, new Date('2026-11-22T13:00:00Z'));
    expect(again.enqueued).toBe(143);
    const pending = await store.outbox.pending('channel:1');
    expect(pending).toHaveLength(143);
    expect(new Set(pending.map((d) => d.id)).size).toBe(143);
    expect(await store.journal.list()).toEqual([]);
  });

  it('reads a source cut short by a stop again in full: every match pending once', async () => {
    const library = await PaperLibrary.load(store);
    const stop = new AbortController();
    let units = 0;
    // Aborted as the second digest file starts merging: it is merged, the other two are not.
    const first = await runCycle({
      ...options(store),
      library,
      sources: seeds,
      signal: stop.signal,
      onProgress: () => {
        if (++units === 2) stop.abort();
      },
    });
    expect(first.ingest.sources[0]?.status).toBe('stopped');
    expect(first.ingest.new).toBeGreaterThan(0);
    expect(first.ingest.new).toBeLessThan(544);
    expect(await store.journal.list()).toEqual([]);
    const again = await runCycle({ ...options(store), library, sources: seeds });
    // Every file is read again: what the first pass merged is known, the rest is new.
    expect(again.ingest.sources[0]?.status).toBe('ok');
    expect(first.ingest.new + again.ingest.new).toBe(544);
    expect(first.match.enqueued + again.match.enqueued).toBe(143);
    expect(await store.outbox.pending('channel:1')).toHaveLength(143);
    const third = await runCycle({ ...options(store), library, sources: seeds });
    expect(third.ingest.sources[0]?.status).toBe('unchanged');
    expect(third.match.enqueued).toBe(0);
    await library.close();
  });

  it('keeps an entry whose papers are not stored yet (a cycle still writing), until it is an hour old', async () => {
    const library = await PaperLibrary.load(store);
    const at = '2026-11-22T12:00:00.000Z';
    await store.journal.add({ id: 'in-flight', newIds: ['fp:not-written-yet'], updatedIds: [], at });
    await matchNewPapers(store, library, new Date('2026-11-22T12:01:00Z'));
    expect((await store.journal.list()).map((e) => e.id)).toEqual(['in-flight']);
    await matchNewPapers(store, library, new Date('2026-11-22T13:01:00Z'));
    expect(await store.journal.list()).toEqual([]);
  });
});

/** What a pass over the seeds leaves when it planned each match once: 143 pending, the journal empty. */
async function expectSeedsMatchedOnce(report: { matched: number }): Promise<void> {
  expect(report.matched).toBe(143);
  expect(await store.outbox.pending('channel:1')).toHaveLength(143);
  expect(await store.journal.list()).toEqual([]);
}

describe('matching behind ingest', () => {
  const updates: Subscription = {
    ...subscription,
    id: subscriptionId(target, 'agent* OR robot*'),
    query: 'agent* OR robot*',
    notifyUpdates: true,
  };

  /**
   * What the outbox holds, comparable across stores. A paper changed during the pass is matched
   * in the version current when its turn came, which depends on how far ingest had got: of those,
   * only which deliveries there are.
   */
  const pending = async (s: Store, changed: readonly string[]) =>
    (await s.outbox.pending())
      .map((d) =>
        changed.includes(d.paperId)
          ? [d.id, d.kind]
          : [d.id, d.kind, [...d.subscriptionIds].sort(), d.terms, d.score],
      )
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it('plans on the search thread, source by source, what a cycle on this thread plans', async () => {
    await store.subscriptions.put(updates);
    const other = await openStore(
      `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-journal-')), 'b.sqlite')}`,
    );
    const threaded = await PaperLibrary.load(other, { searchThread: 'worker' });
    try {
      for (const s of [subscription, updates]) await other.subscriptions.put(s);
      const now = () => new Date('2026-11-22T12:00:00Z');
      // Four sources, one per seed file: each is matched while the next is merged.
      const sources = seedFiles();
      expect(sources).toHaveLength(4);
      const here = await runCycle({
        ...options(store),
        now,
        library: await PaperLibrary.load(store),
        sources,
      });
      const there = await runCycle({ ...options(other), now, library: threaded, sources });
      expect(there.match).toEqual(here.match);
      expect(here.match.matched).toBeGreaterThan(100);
      expect(here.ingest.updatedPaperIds).toHaveLength(1);
      const changed = here.ingest.updatedPaperIds;
      expect(await pending(other, changed)).toEqual(await pending(store, changed));
      expect(await other.journal.list()).toEqual([]);
    } finally {
      await threaded.close();
      await other.close();
    }
  });

  it('makes ingest wait while more papers than its backlog wait to be matched', async () => {
    await ingest(seeds, { ...options(store), journal: true });
    const library = await PaperLibrary.load(store);
    const staged = new Map<string, Paper>();
    const behind = matchBehind(store, library, () => new Date('2026-11-22T12:00:00Z'), staged);
    expect(behind.kick()).toBeUndefined();
    await behind.done();
    expect(await store.journal.list()).toEqual([]);
    for (let i = 0; i <= MATCH_BACKLOG; i++) staged.set(`test:${i}`, {} as Paper);
    // A call queued, and again with it queued: both times, ingest is told to wait.
    const first = behind.kick();
    const second = behind.kick();
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBeInstanceOf(Promise);
    await Promise.all([first, second]);
    staged.clear();
    expect(behind.kick()).toBeUndefined();
    const total = await behind.done();
    expect(total.matched).toBeGreaterThan(100);
  });

  it('lists what it wrote every listEvery papers, and the rest when done', async () => {
    const sources = seedFiles();
    const now = () => new Date('2026-11-22T12:00:00Z');
    const run = async (s: Store, listEvery: number | undefined) => {
      const listed: number[] = [];
      const list = s.outbox.list.bind(s.outbox);
      s.outbox.list = (written) => {
        listed.push(written.length);
        return list(written);
      };
      let written = 0;
      const writePlan = s.outbox.writePlan.bind(s.outbox);
      s.outbox.writePlan = (plan, o) => {
        written++;
        return writePlan(plan, o);
      };
      const staged = stagePapers();
      const behind = matchBehind(
        s,
        await PaperLibrary.load(s),
        now,
        staged.papers,
        listEvery === undefined ? {} : { listEvery },
      );
      // One source at a time, each matched before the next is read.
      for (const source of sources) {
        await ingest([source], { ...options(s), journal: true, onStored: staged.add });
        behind.kick();
        // Planned by a call before the next source is read: one call (at least) per source.
        const want = written + 1;
        for (let t = 0; written < want && t < 2000; t++) await new Promise((r) => setTimeout(r, 5));
        expect(written).toBe(want);
      }
      const report = await behind.done();
      return { listed, report, pending: await pending(s, []) };
    };
    const other = await openStore(
      `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-journal-')), 'b.sqlite')}`,
    );
    try {
      await other.subscriptions.put(subscription);
      const once = await run(store, undefined);
      const often = await run(other, 1);
      // Under LIST_EVERY papers: one listing, at the end, of every step.
      expect(once.listed).toEqual([expect.any(Number)]);
      expect(once.listed[0]).toBeGreaterThan(1);
      expect(often.listed.length).toBeGreaterThanOrEqual(sources.length - 1);
      expect(often.pending).toEqual(once.pending);
      expect(once.pending.length).toBe(143);
      expect(often.report.targets).toEqual([target]);
      expect(await other.journal.list()).toEqual([]);
      expect(await store.journal.list()).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('plans a step while the one before it is written, and no more than two steps ahead', async () => {
    const sources = seedFiles();
    const library = await PaperLibrary.load(store, { searchThread: 'worker' });
    try {
      const events: string[] = [];
      let plans = 0;
      let secondPlanned: () => void = () => undefined;
      const second = new Promise<void>((r) => {
        secondPlanned = r;
      });
      const plan = library.plan.bind(library);
      library.plan = (...args) => {
        events.push(`plan ${++plans}`);
        if (plans === 2) secondPlanned();
        return plan(...args);
      };
      let writes = 0;
      const writePlan = store.outbox.writePlan.bind(store.outbox);
      store.outbox.writePlan = async (p, o) => {
        const k = ++writes;
        // The first write waits for the second step's plan to be asked for (or gives up after
        // 3 s): one pass at a time would only ask once this write is done.
        if (k === 1) await Promise.race([second, new Promise((r) => setTimeout(r, 3000))]);
        const written = await writePlan(p, o);
        events.push(`written ${k}`);
        return written;
      };
      const staged = stagePapers();
      const behind = matchBehind(store, library, () => new Date('2026-11-22T12:00:00Z'), staged.papers);
      for (const source of sources) {
        await ingest([source], { ...options(store), journal: true, onStored: staged.add });
        behind.kick();
      }
      const report = await behind.done();
      expect(events.indexOf('plan 2')).toBeGreaterThan(0);
      expect(events.indexOf('plan 2')).toBeLessThan(events.indexOf('written 1'));
      let ahead = 0;
      let most = 0;
      for (const e of events) {
        ahead += e.startsWith('plan') ? 1 : -1;
        most = Math.max(most, ahead);
      }
      expect(most).toBeLessThanOrEqual(2);
      await expectSeedsMatchedOnce(report);
    } finally {
      await library.close();
    }
  });

  it('plans each entry once though its reads of the journal are slow and lists run meanwhile', async () => {
    const sources = seedFiles();
    // As over a network (Redis, Postgres): what a read returns is from before the writes and
    // listings that ran while it was on its way, which removed some of those entries.
    const list = store.journal.list.bind(store.journal);
    store.journal.list = async () => {
      const entries = await list();
      await new Promise((r) => setTimeout(r, 40));
      return entries;
    };
    const library = await PaperLibrary.load(store, { searchThread: 'worker' });
    try {
      const planned: string[] = [];
      const plan = library.plan.bind(library);
      library.plan = (papers, ...rest) => {
        for (const p of papers) planned.push(p.paper.id);
        return plan(papers, ...rest);
      };
      const staged = stagePapers();
      // Listed after every step: each listing removes journal entries a read may still hold.
      const behind = matchBehind(store, library, () => new Date('2026-11-22T12:00:00Z'), staged.papers, {
        listEvery: 1,
      });
      for (const source of sources) {
        await ingest([source], { ...options(store), journal: true, onStored: staged.add });
        behind.kick();
        await new Promise((r) => setTimeout(r, 30));
      }
      const report = await behind.done();
      expect(planned.length).toBeGreaterThan(500);
      expect(new Set(planned).size).toBe(planned.length);
      await expectSeedsMatchedOnce(report);
    } finally {
      await library.close();
    }
  });

  it('stops at a failed step: done throws its error, and the journal keeps what was not matched', async () => {
    await ingest(seeds, { ...options(store), journal: true });
    const entries = (await store.journal.list()).length;
    expect(entries).toBeGreaterThan(0);
    const library = await PaperLibrary.load(store, { searchThread: 'worker' });
    await library.close();
    const behind = matchBehind(store, library, () => new Date('2026-11-22T12:00:00Z'), new Map());
    behind.kick();
    behind.kick();
    await expect(behind.done()).rejects.toThrow(/closed/);
    expect(await store.journal.list()).toHaveLength(entries);
    expect(await store.outbox.pending()).toEqual([]);
  });
});
