import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Subscription, subscriptionId, type Target } from '../../src/core/subscription.js';
import { matchNewPapers, runCycle } from '../../src/pipeline/cycle.js';
import { type IngestOptions, ingest, type SourceSpec } from '../../src/pipeline/ingest.js';
import { PaperLibrary } from '../../src/pipeline/library.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
const seeds: SourceSpec[] = [{ name: 'seeds', type: 'digest', path: SEEDS }];
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
