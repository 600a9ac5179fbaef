/**
 * `npm run bench`: paperboy's figures, each next to a naive baseline measured in the same run.
 *
 *   npm run bench                      everything, 100k papers
 *   npm run bench -- --papers 20000    a smaller corpus
 *   npm run bench -- --only ingest     one section: store | ingest | match | discord | cycle
 *   npm run bench -- --subs 10000 --channels 1000   matching / delivery sizes
 *   npm run bench -- --only cycle --cycle-papers 20000 --cycle-naive 300
 *   --naive N: store/ingest naive sample; --match-naive N: papers the naive matcher runs on
 *
 * Redis and PostgreSQL are started on 127.0.0.1 (free ports, stopped by pid) when their binaries
 * are installed; otherwise those rows are skipped with a note. Medians of --reps runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { buildDist, bundleScript, ROOT } from '../src/build.js';
import { DEFAULT_HEAP_GROWTH_PERCENT } from '../src/heap.js';
import {
  findPostgresBinDir,
  findRedisServer,
  type RunningPostgres,
  type RunningServer,
  startPostgres,
  startRedis,
} from '../test/setup/servers.js';
import { benchDiscord } from './discord.js';
import type { IngestRun } from './ingest-worker.js';
import type { MatchBench } from './match.js';
import { benchStoreUrl, formatStoreBench, type StoreBenchResult } from './store.js';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    papers: { type: 'string', default: '100000' },
    naive: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '3' },
    only: { type: 'string' },
    subs: { type: 'string', default: '10000' },
    channels: { type: 'string', default: '1000' },
    'cycle-papers': { type: 'string', default: '100000' },
    'cycle-naive': { type: 'string', default: '300' },
    'match-naive': { type: 'string', default: '300' },
  },
});
const PAPERS = Number(values.papers);
const NAIVE = Math.min(Number(values.naive), PAPERS);
const REPS = Number(values.reps);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

interface Backend {
  name: string;
  /** A fresh, empty store URL for each call. */
  fresh(label: string): Promise<string>;
}

async function startBackends(dir: string, cleanup: Array<() => Promise<void>>): Promise<Backend[]> {
  let n = 0;
  const backends: Backend[] = [
    { name: 'sqlite', fresh: async (label) => `sqlite://${join(dir, `${label}-${++n}.sqlite`)}` },
  ];
  const redisBin = findRedisServer();
  if (redisBin) {
    const redis: RunningServer = await startRedis(redisBin);
    cleanup.push(() => redis.stop());
    // Redis databases 0–15 are separate keyspaces: one per run keeps every run's store empty.
    let db = 0;
    backends.push({ name: 'redis', fresh: async () => `${redis.url}/${db++ % 16}` });
  } else {
    console.log('# redis-server not installed: Redis rows skipped (apt-get install redis-server)');
  }
  const pgDir = findPostgresBinDir();
  if (pgDir) {
    const pg: RunningPostgres = await startPostgres(pgDir, { durable: true });
    cleanup.push(() => pg.stop());
    backends.push({ name: 'postgres', fresh: (label) => pg.createDatabase(`bench_${label}_${++n}`) });
  } else {
    console.log('# PostgreSQL not installed: Postgres rows skipped (apt-get install postgresql)');
  }
  return backends;
}

/**
 * How the Docker image and `npm start` run paperboy (see the Dockerfile and ADR 8): two malloc
 * arenas, a quarter of V8's young generation, and young-generation collections on the thread
 * that needs them only (`--no-parallel-scavenge`, command line only). The full cycle runs so;
 * the other sections measure their parts under Node's defaults.
 */
const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4', '--no-parallel-scavenge'];
const SERVICE_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/**
 * Where the bench builds paperboy and its scripts: a `dist/` of its own (one level below the
 * repository, as every build must be), so a run never swaps the files of a `paperboy` running
 * from `dist/`.
 */
const BENCH_DIST = join(ROOT, '.bench-dist');

/** Each bench script's bundle, made once per run (with the build, which the bundles read). */
const bundles = new Map<string, Promise<string>>();
let dist: Promise<unknown> | undefined;

/**
 * `script` compiled as the service runs (`bin/paperboy.js` runs `dist/`, `src/build.ts`): not
 * through tsx, whose module-hooks thread would be part of the process's memory.
 */
function compiled(script: string): Promise<string> {
  dist ??= buildDist(BENCH_DIST);
  let bundle = bundles.get(script);
  if (bundle === undefined) {
    bundle = dist.then(() => bundleScript(`bench/${script}`, script.replace(/\.ts$/, ''), BENCH_DIST));
    bundles.set(script, bundle);
  }
  return bundle;
}

/**
 * Runs a bench script, compiled, in a process of its own (so its peak memory is its own), under
 * Node's defaults or `as` the service runs; its last JSON line.
 */
async function inChild<T>(
  script: string,
  args: ReadonlyArray<string | number>,
  as: 'service' | 'default' = 'default',
): Promise<T> {
  const service = as === 'service';
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', ...(service ? SERVICE_NODE_FLAGS : []), await compiled(script), ...args.map(String)],
    { maxBuffer: 1 << 20, env: service ? { ...process.env, ...SERVICE_ENV } : process.env },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;
}

const ingestWorker = (url: string, papers: number, mode: 'batched' | 'naive') =>
  inChild<IngestRun>('ingest-worker.ts', [url, papers, mode]);

async function benchStoreSection(backends: readonly Backend[]): Promise<void> {
  console.log(
    `\n## Store: ${fmt(PAPERS)} papers (+2 aliases each), batches of 2000; naive = one awaited get + set per paper`,
  );
  for (const b of backends) {
    const results: StoreBenchResult[] = [];
    for (let r = 0; r < REPS; r++)
      results.push(await benchStoreUrl(await b.fresh('store'), PAPERS, { naivePapers: NAIVE }));
    const pick = (k: 'putMany' | 'resolve' | 'getMany' | 'iterate' | 'naive') =>
      median(results.map((x) => x[k] ?? Number.NaN));
    console.log(
      formatStoreBench(b.name, {
        papers: PAPERS,
        putMany: pick('putMany'),
        resolve: pick('resolve'),
        getMany: pick('getMany'),
        iterate: pick('iterate'),
        naive: pick('naive'),
      }),
    );
  }
}

async function benchIngestSection(backends: readonly Backend[]): Promise<void> {
  console.log(
    `\n## Ingest: ${fmt(PAPERS)} sightings (arXiv RSS feeds of 2000 + HF digests; ~15% repeats and new versions)` +
      `\n#  parse + identify + dedupe + store, each run in its own process; medians of ${REPS}; naive on ${fmt(NAIVE)}`,
  );
  console.log(
    'backend   parse p/s   store p/s   end-to-end p/s   naive store p/s   ×naive   peak RSS   new/updated/dup',
  );
  for (const b of backends) {
    const batched: IngestRun[] = [];
    for (let r = 0; r < REPS; r++)
      batched.push(await ingestWorker(await b.fresh('ingest'), PAPERS, 'batched'));
    const naive: IngestRun[] = [];
    for (let r = 0; r < REPS; r++) naive.push(await ingestWorker(await b.fresh('naive'), NAIVE, 'naive'));
    const parse = median(batched.map((x) => x.papers / (x.parseMs / 1000)));
    const store = median(batched.map((x) => x.papers / (x.storeMs / 1000)));
    const total = median(batched.map((x) => x.papers / ((x.parseMs + x.storeMs) / 1000)));
    const naiveStore = median(naive.map((x) => x.papers / (x.storeMs / 1000)));
    const rss = median(batched.map((x) => x.maxRssMb));
    const c = batched[0]?.counts;
    console.log(
      `${b.name.padEnd(9)} ${fmt(parse).padStart(9)}   ${fmt(store).padStart(9)}   ${fmt(total).padStart(14)}   ` +
        `${fmt(naiveStore).padStart(15)}   ${(store / naiveStore).toFixed(1).padStart(5)}×   ${fmt(rss).padStart(5)} MB   ` +
        `${c?.new}/${c?.updated}/${c?.duplicates}`,
    );
  }
}

async function benchMatchSection(): Promise<void> {
  const subs = Number(values.subs);
  console.log(
    `\n## Matching: ${fmt(PAPERS)} papers × ${fmt(subs)} subscriptions (whole language), compiled vs naive; search over the same papers`,
  );
  const runs: MatchBench[] = [];
  const naiveSample = Number(values['match-naive']);
  // Each rep in its own process, as the other sections: in this one, the earlier sections' heap
  // (and the reps before) slowed the matcher by ~25% and made peak RSS cumulative.
  for (let r = 0; r < REPS; r++)
    runs.push(await inChild<MatchBench>('match.ts', [PAPERS, subs, naiveSample]));
  const pick = (k: keyof MatchBench) => median(runs.map((x) => x[k] as number));
  const compiled = pick('compiledPerSec');
  const naive = pick('naivePerSec');
  console.log(
    `compiled ${fmt(compiled)} papers/s · naive ${fmt(naive)} papers/s (every query on each of ${runs[0]?.naiveSample} papers) · ${(compiled / naive).toFixed(1)}× · ` +
      `${fmt(pick('matches') / PAPERS)} matches/paper · peak RSS ${fmt(pick('peakRssMb'))} MB`,
  );
  console.log(
    `search: ${runs[0]?.searchQueries} queries, p50 ${pick('searchP50Ms').toFixed(2)} ms, p99 ${pick('searchP99Ms').toFixed(2)} ms · index build ${fmt(pick('indexMs'))} ms`,
  );
}

async function benchDiscordSection(): Promise<void> {
  const channels = Number(values.channels);
  console.log(
    `\n## Discord: one digest to each of ${fmt(channels)} channels through the emulator (5 msgs/5 s per channel, 50 req/s global)`,
  );
  const r = await benchDiscord(channels);
  console.log(
    `wall ${fmt(r.wallMs)} ms · minimum the limits allow ${fmt(r.minimumMs)} ms · ${(r.wallMs / r.minimumMs).toFixed(2)}× · 429s received: ${r.rateLimited}`,
  );
  console.log(
    `/paper search reply through the gateway: p50 ${r.searchP50Ms.toFixed(1)} ms, p99 ${r.searchP99Ms.toFixed(1)} ms (200 commands)`,
  );
}

interface CycleRun {
  ms: number;
  matched: number;
  enqueued: number;
  indexLagMs: number;
  cpuMs: number;
  mainBusyMs: number;
  searchBusyMs: number;
  maxRssMb: number;
}

const cycleWorker = (url: string, inputDir: string, subs: number, mode: 'batched' | 'naive') =>
  inChild<CycleRun>('cycle-worker.ts', [url, inputDir, subs, mode], 'service');

async function benchCycleSection(backends: readonly Backend[], dir: string): Promise<void> {
  const papers = Number(values['cycle-papers']);
  const naivePapers = Math.min(Number(values['cycle-naive']), papers);
  const subs = Number(values.subs);
  // The feeds are made once, beforehand and in a process of their own: the cycle reads them as
  // fetched bodies, so their making is neither in its time nor on its threads.
  const input = join(dir, 'cycle-input');
  const naiveInput = join(dir, 'cycle-input-naive');
  await inChild('cycle-input.ts', [input, papers]);
  await inChild('cycle-input.ts', [naiveInput, naivePapers]);
  console.log(
    `\n## Full cycle: ingest ${fmt(papers)} papers (RSS + digests, parsed) + match ${fmt(subs)} subscriptions + plan deliveries, own process each` +
      `\n#  medians of ${REPS}; naive = one paper, one query, one awaited store call at a time, on ${fmt(naivePapers)} papers` +
      '\n#  the feeds are made beforehand and read from files as fetched bodies: reading them is in the time',
  );
  console.log(
    '#  the search index runs on its own thread, as in the service: "index +s" is how long it took to catch up after the cycle; CPU is every thread\'s;' +
      "\n#  busy: seconds each thread's event loop was active in the cycle (GC included), main / search: the busier one bounds the cycle",
  );
  console.log(
    `#  each process runs as the Docker image runs paperboy: ${Object.entries(SERVICE_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(
        ' ',
      )} node ${SERVICE_NODE_FLAGS.join(' ')}, heap growth ${DEFAULT_HEAP_GROWTH_PERCENT}% (src/heap.ts)`,
  );
  console.log(
    'backend   papers/s   naive papers/s   ×naive   deliveries planned   peak RSS   index +s   CPU s   busy s (main / search)   runs (papers/s)',
  );
  /** Per backend, the store its last batched cycle left: a service then starts on it. */
  const filled: Array<[Backend, string]> = [];
  for (const b of backends) {
    const runs: CycleRun[] = [];
    for (let r = 0; r < REPS; r++) {
      const url = await b.fresh('cycle');
      runs.push(await cycleWorker(url, input, subs, 'batched'));
      if (r === REPS - 1) filled.push([b, url]);
    }
    const naive = await cycleWorker(await b.fresh('cycle-naive'), naiveInput, subs, 'naive');
    const rates = runs.map((x) => papers / (x.ms / 1000));
    const rate = median(rates);
    const naiveRate = naivePapers / (naive.ms / 1000);
    console.log(
      `${b.name.padEnd(9)} ${fmt(rate).padStart(8)}   ${fmt(naiveRate).padStart(14)}   ${(rate / naiveRate).toFixed(0).padStart(5)}×   ` +
        `${fmt(runs[0]?.enqueued ?? 0).padStart(18)}   ${fmt(median(runs.map((x) => x.maxRssMb))).padStart(5)} MB` +
        `   ${(median(runs.map((x) => x.indexLagMs)) / 1000).toFixed(1).padStart(8)}   ${(median(runs.map((x) => x.cpuMs)) / 1000).toFixed(1).padStart(5)}` +
        `   ${(median(runs.map((x) => x.mainBusyMs)) / 1000).toFixed(1).padStart(6)} / ${(median(runs.map((x) => x.searchBusyMs)) / 1000).toFixed(1).padEnd(14)}` +
        `   ${rates.map(fmt).join(', ')}`,
    );
  }
  console.log(
    `\n## Start-up: a service started on each cycle's store (${fmt(papers)} papers), its search index filled on its own thread, own process each` +
      `\n#  as the cycle runs; medians of ${REPS}. "RSS once filled" is what the service holds between cycles (after a GC)`,
  );
  console.log('backend   fill s   peak RSS   RSS once filled');
  for (const [b, url] of filled) {
    const runs: StartupRun[] = [];
    for (let r = 0; r < REPS; r++)
      runs.push(await inChild<StartupRun>('startup-worker.ts', [url], 'service'));
    console.log(
      `${b.name.padEnd(9)} ${(median(runs.map((x) => x.loadMs)) / 1000).toFixed(1).padStart(6)}   ` +
        `${fmt(median(runs.map((x) => x.peakRssMb))).padStart(5)} MB   ${fmt(median(runs.map((x) => x.rssMb))).padStart(12)} MB`,
    );
  }
}

/** The machine probe's figures (`bench/probe-worker.ts`). */
interface Probe {
  ms: number;
  pairMs: number;
}

interface StartupRun {
  papers: number;
  loadMs: number;
  peakRssMb: number;
  rssMb: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-bench-'));
  const cleanup: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  console.log(`# paperboy bench — node ${process.version}, ${fmt(PAPERS)} papers, ${REPS} reps, medians`);
  try {
    const backends = await startBackends(dir, cleanup);
    const sections: Array<[string, () => Promise<void>]> = [
      ['store', () => benchStoreSection(backends)],
      ['ingest', () => benchIngestSection(backends)],
      ['match', benchMatchSection],
      ['discord', benchDiscordSection],
      ['cycle', () => benchCycleSection(backends, dir)],
    ];
    const probes: Probe[] = [];
    const probe = async (): Promise<string> => {
      const p = await inChild<Probe>('probe-worker.ts', []);
      probes.push(p);
      return `${p.ms.toFixed(0)} ms a pass, ${p.pairMs.toFixed(0)} ms two at once`;
    };
    console.log(
      `# machine probe (bench/probe.ts): ${await probe()} (a pass: ~60 ms on the 2-core VM when it is quiet)`,
    );
    for (const [name, section] of sections) {
      if (values.only && values.only !== name) continue;
      await section();
      console.log(`# machine probe after ${name}: ${await probe()}`);
    }
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} ms`;
    console.log(
      `\n# machine probe over the run: ${range(probes.map((p) => p.ms))} a pass, ` +
        `${range(probes.map((p) => p.pairMs))} two at once ` +
        '(slower = a busier machine; the figures above were measured between these)',
    );
  } finally {
    for (const fn of cleanup.reverse()) await fn();
  }
}

await main();
