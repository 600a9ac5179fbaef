/**
 * One full cycle in its own process, so its peak memory is its own:
 *   node --import tsx bench/cycle-worker.ts <storeUrl> <inputDir> <subscriptions> [batched|naive]
 * Ingests the feeds in <inputDir> (made beforehand by bench/cycle-input.ts: arXiv RSS feeds of 2000
 * and HF digests), read and decoded as fetched bodies are, then parsed; matches the new papers
 * against M subscriptions and plans the deliveries into the outbox. Prints one JSON line; `ms` is
 * the cycle's time, reading its input included. `naive` does the same work one paper, one query
 * and one awaited store call at a time (`bench/naive.ts`).
 * The library runs its search index on a thread of its own, as the service does; `indexLagMs` is
 * how long after the cycle the index took to catch up, and `cpuMs` the process's CPU time (every
 * thread) for cycle and catch-up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBody } from '../src/core/charset.js';
import { parseDigest } from '../src/core/digest.js';
import { parseFeed } from '../src/core/feed.js';
import type { Paper, PaperSighting } from '../src/core/paper.js';
import { parseQuery, type Query } from '../src/core/query/index.js';
import { subscriptionId, type Target } from '../src/core/subscription.js';
import { limitHeapGrowth } from '../src/heap.js';
import { matchBehind, stagePapers } from '../src/pipeline/cycle.js';
import { MERGE_BATCH, mergeSightings } from '../src/pipeline/ingest.js';
import { PaperLibrary } from '../src/pipeline/library.js';
import { openStore } from '../src/store/keyv-store.js';
import { generateQueries, seedWordCounts, topicWords } from './corpus.js';
import { matchNaive, mergeNaive } from './naive.js';

// The heap as the service runs it (src/heap.ts).
limitHeapGrowth();
const [url, inputDir, m, mode = 'batched'] = process.argv.slice(2);
if (!url || !inputDir || !m || (mode !== 'batched' && mode !== 'naive'))
  throw new Error('usage: cycle-worker.ts <storeUrl> <inputDir> <subscriptions> [batched|naive]');
const inputs = readdirSync(inputDir)
  .filter((f) => f.endsWith('.xml') || f.endsWith('.txt'))
  .sort()
  .map((f) => join(inputDir, f));
const store = await openStore(url);
const counts = seedWordCounts(join(import.meta.dirname, '../seeds'));
const queries = generateQueries(Number(m), topicWords(counts));
const now = new Date();
await Promise.all(
  queries.map((query, i) => {
    const target: Target = { kind: 'channel', channelId: String(1000 + (i % 2000)) };
    return store.subscriptions.put({
      id: subscriptionId(target, query),
      target,
      query,
      createdBy: 'bench',
      createdAt: now.toISOString(),
      mode: 'immediate',
      notifyUpdates: false,
      backfillHours: 0,
    });
  }),
);
const library = await PaperLibrary.load(store, { searchThread: mode === 'batched' ? 'worker' : 'main' });
await library.sync();
// The naive loop's parsed queries, made only for it: the batched cycle does not hold them.
const naiveSubs =
  mode === 'naive'
    ? (await store.subscriptions.list()).map((sub) => ({
        sub,
        query: (parseQuery(sub.query) as { ok: true; query: Query }).query,
      }))
    : [];
const t0 = performance.now();
const cpu0 = process.cpuUsage();
// How busy each thread was in the cycle: the busier one bounds it.
const elu0 = performance.eventLoopUtilization();
const searchBusy0 = library.searchBusyMs ?? 0;
const newIds: string[] = [];
const updatedIds: string[] = [];
let total = 0;
let matched = 0;
let enqueued = 0;
const staged = stagePapers();
const matching = matchBehind(store, library, () => now, staged.papers);
for (const file of inputs) {
  // As a fetched body: bytes, decoded by the charset its content type names.
  const digest = file.endsWith('.txt');
  const text = decodeBody(
    readFileSync(file),
    digest ? 'text/plain; charset=utf-8' : 'application/rss+xml; charset=utf-8',
  );
  let sightings: PaperSighting[];
  if (digest) {
    const r = parseDigest(text);
    if (!r.ok) throw new Error(r.error);
    sightings = r.papers;
  } else {
    const r = await parseFeed(text, { sourceName: 'bench' });
    if (!r.ok) throw new Error(r.error);
    sightings = r.papers;
  }
  total += sightings.length;
  if (mode === 'naive') {
    const created: Paper[] = [];
    await mergeNaive(store, sightings, now.toISOString(), created);
    for (const p of created) newIds.push(p.id);
    const r = await matchNaive(store, created, naiveSubs, now.toISOString());
    matched += r.matched;
    enqueued += r.enqueued;
    continue;
  }
  await mergeSightings(store, sightings, 'bench', now.toISOString(), {
    batchSize: MERGE_BATCH,
    newIds,
    updatedIds,
    journal: true,
    onStored: staged.add,
  });
  // As a cycle does (src/pipeline/cycle.ts): this feed is matched while the next one is read.
  await matching.kick();
  // The next feed's fetch, where a cycle waits for the network: what the search thread sent
  // back (a plan) is handled then.
  await new Promise(setImmediate);
}
if (mode === 'batched') {
  const r = await matching.done();
  matched += r.matched;
  enqueued += r.enqueued;
}
const ms = performance.now() - t0;
const mainBusyMs = performance.eventLoopUtilization(elu0).active;
const searchBusyMs = (library.searchBusyMs ?? 0) - searchBusy0;
const t1 = performance.now();
await library.sync();
const indexLagMs = performance.now() - t1;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
await library.close();
await store.close();
process.stdout.write(
  `${JSON.stringify({ url, papers: total, subscriptions: queries.length, ms, mainBusyMs, searchBusyMs, indexLagMs, cpuMs, searchRestarts: library.searchRestarts, new: newIds.length, matched, enqueued, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
