/**
 * Matching and search: N synthetic papers × M subscriptions generated from the seeds'
 * vocabulary with the whole language (words, phrases, hyphenated words, fields, prefixes,
 * negations, OR, categories), compiled matcher against the naive loop (every query on every
 * paper, through the same interpreter), and search latency over the indexed papers.
 */

import { join } from 'node:path';
import type { Paper } from '../src/core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  createSearchIndex,
  matchesQuery,
  parseQuery,
  type Query,
} from '../src/core/query/index.js';
import { generateQueries, seedWordCounts, topicWords, zipfPapers } from './corpus.js';

export interface MatchBench {
  papers: number;
  subscriptions: number;
  compiledPerSec: number;
  naivePerSec: number;
  naiveSample: number;
  matches: number;
  searchP50Ms: number;
  searchP99Ms: number;
  searchQueries: number;
  indexMs: number;
  peakRssMb: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

export async function benchMatch(opts: {
  papers: number;
  subscriptions: number;
  naiveSample?: number;
}): Promise<MatchBench> {
  const counts = seedWordCounts(join(import.meta.dirname, '../seeds'));
  // Papers reach the matcher from the store, parsed from JSON: flat strings. The generator's
  // template literals are ropes, which V8 flattens (copies, then promotes) on the first read of
  // each paper, a cost the pipeline never has; the round trip keeps the text and drops the rope.
  const papers: Paper[] = [];
  for (const p of zipfPapers(opts.papers, counts)) papers.push(JSON.parse(JSON.stringify(p)) as Paper);
  const vocab = topicWords(counts);
  const texts = generateQueries(opts.subscriptions, vocab);
  const subs = texts.map((t, i) => ({
    id: `s${i}`,
    query: (parseQuery(t) as { ok: true; query: Query }).query,
  }));

  // Both loops are timed warm (their code compiled, last section's garbage collected), so the
  // figures compare the steady state of each rather than how fast V8 gets there.
  const collect = () => (globalThis as { gc?: () => void }).gc?.();

  // Compiled: analyse each paper once, evaluate the candidates its words select.
  const matcher = compileMatcher(subs);
  for (let i = 0; i < Math.min(2000, papers.length); i++) matcher.match(analyzePaper(papers[i] as Paper));
  collect();
  let matches = 0;
  const t0 = performance.now();
  for (const p of papers) matches += matcher.match(analyzePaper(p)).length;
  const compiledMs = performance.now() - t0;

  // Naive: every subscription on every paper (a sample of papers; same interpreter).
  const n = Math.min(opts.naiveSample ?? 300, papers.length);
  for (let i = 0; i < Math.min(20, n); i++) {
    const doc = analyzePaper(papers[i] as Paper);
    for (const s of subs) matchesQuery(s.query, doc);
  }
  collect();
  let naiveMatches = 0;
  const t1 = performance.now();
  for (let i = 0; i < n; i++) {
    const doc = analyzePaper(papers[i] as Paper);
    for (const s of subs) if (matchesQuery(s.query, doc)) naiveMatches++;
  }
  const naiveMs = performance.now() - t1;
  void naiveMatches;

  // Search over every paper.
  const t2 = performance.now();
  const index = createSearchIndex();
  for (const p of papers) index.add(p);
  const indexMs = performance.now() - t2;
  const queries = texts.slice(0, 200).map((t) => (parseQuery(t) as { ok: true; query: Query }).query);
  const lat: number[] = [];
  for (const q of queries.slice(0, 20)) index.search(q, { limit: 20 });
  collect();
  for (const q of queries) {
    const s = performance.now();
    index.search(q, { limit: 20 });
    lat.push(performance.now() - s);
  }
  return {
    papers: papers.length,
    subscriptions: subs.length,
    compiledPerSec: papers.length / (compiledMs / 1000),
    naivePerSec: n / (naiveMs / 1000),
    naiveSample: n,
    matches,
    searchP50Ms: percentile(lat, 50),
    searchP99Ms: percentile(lat, 99),
    searchQueries: lat.length,
    indexMs,
    // The process's peak resident set (kernel figure, KiB), not samples of it.
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [papers = '100000', subs = '10000', naive = '300'] = process.argv.slice(2);
  console.log(
    JSON.stringify(
      await benchMatch({ papers: Number(papers), subscriptions: Number(subs), naiveSample: Number(naive) }),
    ),
  );
}
