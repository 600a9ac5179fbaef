/**
 * One ingest benchmark run in its own process, so its peak memory is its own:
 *   node --import tsx bench/ingest-worker.ts <storeUrl> <papers> <batched|naive>
 * Prints one JSON line: timings of parse and of identify + dedupe + store, counts, peak RSS.
 */
import { join } from 'node:path';
import { parseDigest } from '../src/core/digest.js';
import { parseFeed } from '../src/core/feed.js';
import type { PaperSighting } from '../src/core/paper.js';
import { MERGE_BATCH, mergeSightings } from '../src/pipeline/ingest.js';
import { openStore } from '../src/store/keyv-store.js';
import { generateCorpus, type SyntheticPaper, seedVocabulary, toArxivRss, toDigestText } from './corpus.js';
import { mergeNaive } from './naive.js';

const FEED_SIZE = 2000;
/** One chunk in this many comes as an HF digest (titles only, no arXiv id). */
const DIGEST_EVERY = 10;

export interface IngestRun {
  url: string;
  mode: 'batched' | 'naive';
  papers: number;
  parseMs: number;
  storeMs: number;
  counts: { new: number; updated: number; duplicates: number };
  maxRssMb: number;
}

async function main(): Promise<void> {
  const [url, n, mode] = process.argv.slice(2);
  if (!url || !n || (mode !== 'batched' && mode !== 'naive')) {
    throw new Error('usage: ingest-worker.ts <storeUrl> <papers> <batched|naive>');
  }
  const total = Number(n);
  const corpus = generateCorpus(total, seedVocabulary(join(import.meta.dirname, '../seeds')));
  // Every tenth chunk comes as an HF digest: titles only, no arXiv id (the fingerprint path).
  function* chunks(): Generator<{ kind: 'feed' | 'digest'; papers: SyntheticPaper[] }> {
    let papers: SyntheticPaper[] = [];
    let n = 0;
    for (const p of corpus) {
      papers.push(p);
      if (papers.length === FEED_SIZE) {
        yield { kind: ++n % DIGEST_EVERY === 0 ? 'digest' : 'feed', papers };
        papers = [];
      }
    }
    if (papers.length > 0) yield { kind: 'feed', papers };
  }

  // Like a real cycle: one source at a time is parsed and merged, so memory holds one feed.
  const store = await openStore(url);
  const now = new Date().toISOString();
  let parseMs = 0;
  let storeMs = 0;
  let papers = 0;
  const c = { new: 0, updated: 0, duplicates: 0 };
  for (const chunk of chunks()) {
    const text = chunk.kind === 'feed' ? toArxivRss(chunk.papers, 'cs.LG') : toDigestText(chunk.papers);
    const t0 = performance.now();
    let sightings: PaperSighting[];
    if (chunk.kind === 'feed') {
      const r = await parseFeed(text, { sourceName: 'bench' });
      if (!r.ok) throw new Error(r.error);
      sightings = r.papers;
    } else {
      const r = parseDigest(text);
      if (!r.ok) throw new Error(r.error);
      sightings = r.papers;
    }
    const t1 = performance.now();
    const counts =
      mode === 'batched'
        ? await mergeSightings(store, sightings, 'bench', now, { batchSize: MERGE_BATCH })
        : await mergeNaive(store, sightings, now);
    const t2 = performance.now();
    parseMs += t1 - t0;
    storeMs += t2 - t1;
    papers += sightings.length;
    c.new += counts.new;
    c.updated += counts.updated;
    c.duplicates += counts.duplicates;
  }
  await store.close();
  const run: IngestRun = {
    url,
    mode,
    papers,
    parseMs,
    storeMs,
    counts: { new: c.new, updated: c.updated, duplicates: c.duplicates },
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

await main();
