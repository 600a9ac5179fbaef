/**
 * A deterministic synthetic corpus for the benchmarks: papers built from the seeds' vocabulary,
 * rendered as arXiv RSS 2.0 feeds (2000 items each, like a busy category's daily announcement)
 * and as HF Daily Papers text dumps, with the repeats a real stream has: cross-listings, new
 * versions and digest copies of papers that arXiv also announced. Also papers and subscribers'
 * queries drawn from the seeds' word frequencies (`zipfPapers`, `generateQueries`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBody } from '../src/core/charset.js';
import type { Paper } from '../src/core/paper.js';
import { parseQuery, stem } from '../src/core/query/index.js';

/** Mulberry32: a tiny seeded PRNG, so every run builds the same corpus. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedVocabulary(seedsDir: string): string[] {
  const words = new Set<string>();
  for (const f of readdirSync(seedsDir)) {
    for (const w of readFileSync(join(seedsDir, f), 'utf8').match(/[A-Za-z][A-Za-z-]{2,}/g) ?? [])
      words.add(w);
  }
  return [...words].sort();
}

export interface SyntheticPaper {
  arxivId: string;
  version: number;
  title: string;
  abstract: string;
  authors: string[];
  categories: string[];
  announce: 'new' | 'cross' | 'replace' | 'replace-cross';
}

const CATEGORIES = ['cs.LG', 'cs.CL', 'cs.CV', 'cs.AI', 'stat.ML', 'cs.RO', 'cs.IR', 'math.OC'];

/**
 * `total` sightings: ~85% first announcements, ~10% repeats of an earlier paper (cross-lists,
 * same version) and ~5% new versions with a changed abstract. A generator: each paper's text is
 * rebuilt from its serial number, so a 100k corpus never sits in memory at once.
 */
export function* generateCorpus(
  total: number,
  vocab: readonly string[],
  seed = 42,
): Generator<SyntheticPaper> {
  const rnd = prng(seed);
  const history: Array<{ serial: number; version: number }> = [];
  let serial = 0;
  for (let i = 0; i < total; i++) {
    const r = rnd();
    const earlier = history.length > 0 ? history[Math.floor(rnd() * history.length)] : undefined;
    if (earlier && r < 0.1) {
      yield { ...paperText(earlier.serial, earlier.version, vocab), announce: 'cross' };
    } else if (earlier && r < 0.15) {
      earlier.version++;
      yield { ...paperText(earlier.serial, earlier.version, vocab), announce: 'replace' };
    } else {
      serial++;
      history.push({ serial, version: 1 });
      yield { ...paperText(serial, 1, vocab), announce: 'new' };
    }
  }
}

/** The whole corpus as an array (small corpora and tests). */
export function makeCorpus(total: number, vocab: readonly string[], seed = 42): SyntheticPaper[] {
  return [...generateCorpus(total, vocab, seed)];
}

/** Paper `serial`'s text at `version`: the same every time; each new version adds a sentence. */
function paperText(
  serial: number,
  version: number,
  vocab: readonly string[],
): Omit<SyntheticPaper, 'announce'> {
  const rnd = prng(serial * 7919 + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const words = (n: number) => Array.from({ length: n }, () => pick(vocab)).join(' ');
  const month = 2401 + Math.floor(serial / 30000);
  let abstract = `${words(40)}. We propose ${words(20)}. ${words(60 + Math.floor(rnd() * 60))}.`;
  const authors = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => `${pick(vocab)} ${pick(vocab)}`);
  const title = `${words(3)}: ${words(5 + Math.floor(rnd() * 6))} (#${serial})`;
  const categories = [pick(CATEGORIES), pick(CATEGORIES)];
  for (let v = 2; v <= version; v++) abstract += ` In version ${v} we add ${words(12)}.`;
  return {
    arxivId: `${month}.${String(serial % 30000).padStart(5, '0')}`,
    version,
    title,
    abstract,
    authors,
    categories,
  };
}

/**
 * Text as a fetched feed or a read file arrives: bytes decoded once (`src/core/charset.ts`), so
 * one flat string. Built by templates and joins it would be a rope of pieces that the cycle's
 * first regex copies flat: ~7 MB per 2000-item feed that no fetched feed costs.
 */
function asFetched(text: string, contentType: string): string {
  return decodeBody(Buffer.from(text, 'utf8'), contentType);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One arXiv RSS 2.0 feed, in the format rss.arxiv.org serves. */
export function toArxivRss(papers: readonly SyntheticPaper[], category: string): string {
  const items = papers.map(
    (p) => `<item>
<title>${esc(p.title)}</title>
<link>https://arxiv.org/abs/${p.arxivId}</link>
<description>arXiv:${p.arxivId}v${p.version} Announce Type: ${p.announce} 
Abstract: ${esc(p.abstract)}</description>
<guid isPermaLink="false">oai:arXiv.org:${p.arxivId}v${p.version}</guid>
${p.categories.map((c) => `<category>${c}</category>`).join('\n')}
<pubDate>Fri, 22 Nov 2024 00:00:00 -0500</pubDate>
<arxiv:announce_type>${p.announce}</arxiv:announce_type>
<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
<dc:creator>${esc(p.authors.join(', '))}</dc:creator>
</item>`,
  );
  return asFetched(
    `<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
<channel>
<title>${category} updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/${category}</link>
<description>${category} updates on the arXiv.org e-print archive.</description>
<atom:link href="https://rss.arxiv.org/rss/${category}" rel="self" type="application/rss+xml"/>
<docs>http://www.rssboard.org/rss-specification</docs>
<language>en-us</language>
<lastBuildDate>Fri, 22 Nov 2024 00:30:00 +0000</lastBuildDate>
<managingEditor>rss-help@arxiv.org</managingEditor>
<pubDate>Fri, 22 Nov 2024 00:00:00 -0500</pubDate>
<skipDays><day>Saturday</day><day>Sunday</day></skipDays>
${items.join('\n')}
</channel>
</rss>
`,
    'application/rss+xml; charset=utf-8',
  );
}

/** One HF Daily Papers text dump in the "consecutive" layout (no arXiv ids: titles only). */
export function toDigestText(papers: readonly SyntheticPaper[]): string {
  const body = papers.map((p) => `${p.title}\n${p.abstract}`).join('\n');
  return asFetched(
    `Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe${body}\n`,
    'text/plain; charset=utf-8',
  );
}

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
