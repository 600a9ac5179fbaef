/**
 * Store throughput: batched (`putMany`, `resolve`, `getMany`, `iterate` as the pipeline uses
 * them) against a naive baseline (one awaited `keyv.get` + `keyv.set` per paper through the same
 * adapter), in papers/s.
 *
 * `benchStore` measures an open store; `benchStoreUrl` opens one (plus the naive Keyv beside it).
 * Run alone, `node --expose-gc --import tsx bench/store.ts [papers] [url…]` measures the given
 * URLs, or SQLite, Redis and Postgres servers it starts itself (durable settings: fsync on).
 * Benchmarks write into the store: use scratch URLs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Keyv } from 'keyv';
import { arxivKey, fingerprintKey, type Paper } from '../src/core/paper.js';
import { openKeyvBackend, parseStoreUrl, redactUrl } from '../src/store/keyv-backends.js';
import { openStore } from '../src/store/keyv-store.js';
import type { Store } from '../src/store/types.js';

const WORDS = [
  'attention',
  'diffusion',
  'sparse',
  'language',
  'model',
  'graph',
  'reinforcement',
  'learning',
  'robust',
  'scaling',
  'transformer',
  'retrieval',
  'contrastive',
  'kernel',
  'bayesian',
  'latent',
  'überraschend',
  'données',
  'モデル',
  'efficient',
  'benchmark',
  'agent',
  'vision',
  'policy',
];

/** The `i`-th synthetic paper: deterministic, ~1.7 kB of JSON like the seeds' papers (1,692 chars on average). */
export function syntheticPaper(i: number): Paper {
  const w = (k: number): string => WORDS[(i * 7 + k * 13) % WORDS.length] ?? 'x';
  const arxivId = `${2401 + (i % 12)}.${String(i).padStart(5, '0')}`;
  const abstract = Array.from({ length: 150 }, (_, k) => w(k)).join(' ');
  return {
    id: arxivKey(arxivId),
    arxivId,
    version: 1 + (i % 3),
    title: `${w(1)} ${w(2)} for ${w(3)} ${w(4)} (${i})`,
    abstract,
    authors: [`Author ${i % 997}`, `Coauthor ${i % 331}`, `Third ${i % 101}`],
    categories: ['cs.LG', i % 2 ? 'cs.CL' : 'stat.ML'],
    links: { abs: `https://arxiv.org/abs/${arxivId}`, pdf: `https://arxiv.org/pdf/${arxivId}`, code: [] },
    published: '2024-11-26',
    sources: ['arxiv-cs.LG'],
    firstSeen: '2024-11-27T06:00:00.000Z',
  };
}

/** The alias keys the pipeline writes for a paper: its arXiv id and its title fingerprint. */
function aliasesOf(papers: readonly Paper[]): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const p of papers) {
    aliases.set(p.id, p.id);
    aliases.set(fingerprintKey(p.title), p.id);
  }
  return aliases;
}

export interface StoreBenchOptions {
  /** Papers per `putMany` / `getMany` call, as one ingest batch. Default 2000. */
  batch?: number;
  /** Papers for the naive baseline (it is slow; the rate is per paper). Default: all. */
  naivePapers?: number;
}

/** Throughputs in papers/s. */
export interface StoreBenchResult {
  papers: number;
  /** `putMany` of papers plus two aliases each. */
  putMany: number;
  /** `resolve` of both aliases of every paper. */
  resolve: number;
  getMany: number;
  iterate: number;
  /** One awaited `get` + `set` per paper through the same adapter; undefined when not measured. */
  naive?: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function rate(n: number, fn: () => Promise<void>): Promise<number> {
  gc();
  const start = performance.now();
  await fn();
  return Math.round(n / ((performance.now() - start) / 1000));
}

/**
 * Measures `store` with `n` synthetic papers (written into it), and the naive baseline through
 * `naive` when given (a Keyv over the same adapter; its namespace is cleared afterwards).
 */
export async function benchStore(
  store: Store,
  n: number,
  naive?: Keyv,
  options: StoreBenchOptions = {},
): Promise<StoreBenchResult> {
  const batch = options.batch ?? 2000;
  const batches = function* (): Generator<Paper[]> {
    for (let i = 0; i < n; i += batch) {
      yield Array.from({ length: Math.min(batch, n - i) }, (_, k) => syntheticPaper(i + k));
    }
  };
  // Each batch is built just before its write and only the write is timed: building all 100k
  // papers first would leave ~400 MB live, and every GC during the writes would walk it (a
  // cost no ingest has, since the pipeline holds one batch at a time).
  const keys: string[][] = [];
  const ids: string[][] = [];
  let writeMs = 0;
  gc();
  for (const papers of batches()) {
    const aliases = aliasesOf(papers);
    keys.push([...aliases.keys()]);
    ids.push(papers.map((p) => p.id));
    const start = performance.now();
    await store.papers.putMany(papers, aliases);
    writeMs += performance.now() - start;
  }
  const putMany = Math.round(n / (writeMs / 1000));
  const resolve = await rate(n, async () => {
    for (const k of keys) await store.papers.resolve(k);
  });
  const getMany = await rate(n, async () => {
    for (const b of ids) await store.papers.getMany(b);
  });
  let seen = 0;
  const iterate = await rate(n, async () => {
    for await (const _ of store.papers.iterate()) seen++;
  });
  if (seen !== n) throw new Error(`iterate saw ${seen} papers, wrote ${n}`);

  const result: StoreBenchResult = { papers: n, putMany, resolve, getMany, iterate };
  if (naive !== undefined) {
    const m = Math.min(options.naivePapers ?? n, n);
    const papers = Array.from({ length: m }, (_, i) => syntheticPaper(i));
    result.naive = await rate(m, async () => {
      for (const p of papers) {
        if ((await naive.get(p.id)) === undefined) await naive.set(p.id, p);
      }
    });
    await naive.clear();
  }
  return result;
}

/**
 * Opens a store on `url` and a naive Keyv on the same backend (for SQLite a sibling file: one
 * process may hold a SQLite file only once), measures, closes both.
 */
export async function benchStoreUrl(url: string, n: number, options: StoreBenchOptions = {}) {
  const location = parseStoreUrl(url);
  const naiveLocation =
    location.kind === 'sqlite' && location.path !== ':memory:'
      ? { ...location, path: location.path.replace(/(\.sqlite)?$/, '-naive.sqlite') }
      : location;
  const store = await openStore(url);
  const backend = await openKeyvBackend(naiveLocation);
  try {
    return await benchStore(store, n, backend.keyv('naive'), options);
  } finally {
    await Promise.all([store.close(), backend.close()]);
  }
}

export function formatStoreBench(name: string, r: StoreBenchResult): string {
  const f = (x: number | undefined): string => (x === undefined ? '—' : `${x.toLocaleString('en-US')}/s`);
  const speedup = r.naive ? ` (${(r.putMany / r.naive).toFixed(0)}× naive)` : '';
  return (
    `${name.padEnd(9)} ${r.papers.toLocaleString('en-US')} papers: putMany ${f(r.putMany)}${speedup}, ` +
    `resolve ${f(r.resolve)}, getMany ${f(r.getMany)}, iterate ${f(r.iterate)}, naive get+set ${f(r.naive)}`
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const n = Number(argv[0] ?? 100_000);
  const urls = argv.slice(1);
  const cleanup: Array<() => Promise<void>> = [];
  try {
    if (urls.length === 0) {
      const servers = await import('../test/setup/servers.js');
      const dir = mkdtempSync(join(tmpdir(), 'paperboy-bench-'));
      cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
      urls.push(`sqlite://${join(dir, 'bench.sqlite')}`);
      const redisBin = servers.findRedisServer();
      if (redisBin) {
        const redis = await servers.startRedis(redisBin);
        cleanup.push(redis.stop);
        urls.push(redis.url);
      }
      const pgBin = servers.findPostgresBinDir();
      if (pgBin) {
        const pg = await servers.startPostgres(pgBin, { durable: true });
        cleanup.push(pg.stop);
        urls.push(pg.url);
      }
    }
    for (const url of urls) {
      const result = await benchStoreUrl(url, n);
      console.log(formatStoreBench(parseStoreUrl(url).kind, result), `  [${redactUrl(url)}]`);
    }
  } finally {
    for (const fn of cleanup.reverse()) await fn();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
