/**
 * Matching and search: N synthetic papers × M subscriptions generated from the seeds'
 * vocabulary with the whole language (words, phrases, hyphenated words, fields, prefixes,
 * negations, OR, categories), compiled matcher against the naive loop (every query on every
 * paper, through the same interpreter), and search latency over the indexed papers.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Paper } from '../src/core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  createSearchIndex,
  matchesQuery,
  parseQuery,
  type Query,
  stem,
} from '../src/core/query/index.js';
import { prng } from './corpus.js';

/** The seeds' words with their counts, most frequent first. */
export function seedWordCounts(dir: string): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    for (const w of readFileSync(join(dir, f), 'utf8').match(/[A-Za-z][A-Za-z-]{1,}/g) ?? []) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * Words subscribers would follow: topic words, not "the", "we" or "model". A word qualifies when
 * every part of it (after folding and stemming) occurs at most 5 times in the seeds' 100k words.
 */
export function topicWords(counts: ReadonlyArray<[string, number]>): string[] {
  const stemCounts = new Map<string, number>();
  for (const [w, n] of counts)
    for (const part of w.toLowerCase().split('-'))
      if (part) stemCounts.set(stem(part), (stemCounts.get(stem(part)) ?? 0) + n);
  return counts
    .map(([w]) => w.toLowerCase())
    .filter(
      (w) =>
        w.length >= 4 &&
        !w.endsWith('-') &&
        w.split('-').every((p) => p.length > 0 && (stemCounts.get(stem(p)) ?? 0) <= 5),
    );
}

/**
 * Papers whose words follow the seeds' word frequencies (a real abstract is mostly common words),
 * so a subscription's words are as rare in the corpus as they are in real papers.
 */
export function* zipfPapers(
  total: number,
  counts: ReadonlyArray<[string, number]>,
  seed = 42,
): Generator<Paper> {
  const rnd = prng(seed);
  const cumulative: number[] = [];
  let sum = 0;
  for (const [, n] of counts) {
    sum += n;
    cumulative.push(sum);
  }
  const word = () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return counts[lo]?.[0] as string;
  };
  const words = (n: number) => Array.from({ length: n }, word).join(' ');
  const cats = ['cs.LG', 'cs.CL', 'cs.CV', 'cs.AI', 'stat.ML', 'cs.RO'];
  for (let i = 0; i < total; i++) {
    const id = `${2401 + Math.floor(i / 30000)}.${String(i % 30000).padStart(5, '0')}`;
    yield {
      id: `arxiv:${id}`,
      arxivId: id,
      title: words(6 + Math.floor(rnd() * 8)),
      abstract: `${words(60)}. We propose ${words(30)}. ${words(60 + Math.floor(rnd() * 60))}.`,
      authors: Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => `${word()} ${word()}`),
      categories: [cats[Math.floor(rnd() * cats.length)] as string],
      links: { code: [] },
      sources: ['bench'],
      firstSeen: '2026-11-22T00:00:00.000Z',
    };
  }
}

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

/** `count` queries over the vocabulary, a deterministic mix of every construct of the language. */
export function generateQueries(count: number, vocab: readonly string[], seed = 7): string[] {
  const rnd = prng(seed);
  const w = () => (vocab[Math.floor(rnd() * vocab.length)] as string).toLowerCase();
  const out: string[] = [];
  while (out.length < count) {
    const r = rnd();
    let q: string;
    if (r < 0.2) q = w();
    else if (r < 0.4) q = `${w()} ${w()}`;
    else if (r < 0.5) q = `"${w()} ${w()}"`;
    else if (r < 0.58) q = `${w()}-${w()}`;
    else if (r < 0.68) q = `${w()} OR ${w()} OR ${w()}`;
    else if (r < 0.76) q = `title:${w()} OR abstract:"${w()} ${w()}"`;
    else if (r < 0.84) q = `${w().slice(0, 5)}* ${w()}`;
    else if (r < 0.93) q = `${w()} -${w()} NOT ${w()}`;
    else if (r < 0.97) q = `(${w()} | ${w()}) category:cs.${rnd() < 0.5 ? 'LG' : 'CL'}`;
    else if (r < 0.9998) q = `author:${w()} ${w()}`;
    else q = `-${w()}`;
    if (parseQuery(q).ok) out.push(q);
  }
  return out;
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
