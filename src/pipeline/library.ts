/**
 * The library: every stored paper in a search index, and the subscriptions compiled into a
 * matcher. Loaded once from the store, then kept current by each cycle, so searches, previews,
 * `/paper why` and matching never scan the store.
 */

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { hash64, type Paper, type PaperId } from '../core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  type Explanation,
  explainMatch,
  type Matcher,
  type MatchHit,
  parseQuery,
  type Query,
} from '../core/query/index.js';
import { plainQuery } from '../core/query/parse.js';
import {
  type Delivery,
  type DeliveryPlan,
  expandPlan,
  type PlannedGroup,
  plannedGroup,
  type Subscription,
  type Target,
  targetKey,
} from '../core/subscription.js';
import type { Store } from '../store/types.js';
import { type IndexedPaper, PagedIndex, type SearchResult } from './paged-index.js';

export type { IndexedPaper, SearchResult };

/** A query that did not parse: the person's text, what is wrong and where. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  constructor(
    readonly query: string,
    readonly problem: string,
    readonly column: number,
  ) {
    super(problem);
  }
}

/** Parses a query or throws {@link QueryError}. */
export function compileQuery(text: string): Query {
  const parsed = parseQuery(text);
  if (!parsed.ok) throw new QueryError(text, parsed.error.message, parsed.error.column);
  return parsed.query;
}

/** To the search thread. */
export type IndexMessage =
  | { t: 'add'; papers: IndexedPaper[] }
  | { t: 'sync'; id: number }
  | { t: 'search'; id: number; query: Query; limit: number; offset: number; since: string | undefined };

/** From the search thread. */
export type IndexReply = ({ id: number } & SearchResult) | { id: number; error: string };

interface SearchOptions {
  limit: number;
  offset?: number;
  since?: Date;
}

let workerScript: string | undefined;

/**
 * The search thread's code as one plain script, bundled once per process from its TypeScript
 * (esbuild, ~40 ms). A thread that loaded our sources through tsx, as the process does, would
 * start tsx's module-hooks thread for itself: ~30 MB of RSS for the life of the process.
 */
function searchWorkerScript(): string {
  if (workerScript === undefined) {
    const built = buildSync({
      entryPoints: [fileURLToPath(new URL('./search-worker.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
    });
    workerScript = built.outputFiles[0]?.text ?? '';
  }
  return workerScript;
}

/** Where the search index lives: this thread, or a worker thread of its own. */
interface IndexHost {
  add(papers: readonly IndexedPaper[]): void;
  search(query: Query, opts: SearchOptions): Promise<SearchResult>;
  /** Resolves once every paper added so far is searchable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

function indexedPaper(p: Paper): IndexedPaper {
  return {
    id: p.id,
    title: p.title,
    abstract: p.abstract,
    authors: p.authors,
    categories: p.categories,
    sources: p.sources,
    firstSeen: p.firstSeen,
  };
}

/** The index on the calling thread: searches answer at once, indexing takes the caller's time. */
class LocalIndex implements IndexHost {
  private readonly index = new PagedIndex();

  add(papers: readonly IndexedPaper[]): void {
    this.index.add(papers);
  }

  async search(query: Query, opts: SearchOptions): Promise<SearchResult> {
    return this.index.search(query, {
      limit: opts.limit,
      offset: opts.offset ?? 0,
      since: opts.since?.toISOString(),
    });
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * The index on a worker thread (`search-worker.ts`), so a cycle's indexing runs on another core
 * while the cycle goes on. Messages keep their order: a search sent after `add` sees those
 * papers. If the thread dies, the searches waiting on it fail with a clear error and the next
 * call starts a new one, filled again from the store.
 */
class WorkerIndex implements IndexHost {
  private worker: Worker | undefined;
  private readonly waiting = new Map<
    number,
    { message: IndexMessage; resolve: (r: SearchResult) => void; reject: (e: Error) => void }
  >();
  private calls = 0;
  private closed = false;
  /** A new thread being filled from the store: searches wait for it. */
  private filling: Promise<void> = Promise.resolve();
  /** Threads started again after running out of heap (each time with twice the heap). */
  restarts = 0;

  /**
   * `heapMb`: the thread's old-generation heap to start with. A cap keeps V8 from growing the
   * thread's heap to several times what the index holds; a thread that runs out of it is started
   * again at once with twice as much and filled from the store.
   */
  constructor(
    private readonly reload: () => AsyncIterable<Paper>,
    private heapMb: number,
  ) {}

  /** Starts the thread (filling it from the store unless `empty`). */
  start(empty: boolean): Worker {
    const worker = new Worker(searchWorkerScript(), {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    // Idle, the thread keeps no process alive; it is held only while a search waits on it
    // (unref'd again once running: before that, Node 20 does not always honour it).
    worker.unref();
    worker.once('online', () => {
      if (this.waiting.size === 0) worker.unref();
    });
    worker.on('message', (r: IndexReply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) worker.unref();
      if ('error' in r) w.reject(new Error(`search failed: ${r.error}`));
      else w.resolve({ total: r.total, hits: r.hits });
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      // Out of heap: the index outgrew the cap. A thread with twice as much starts now, filled
      // from the store, and is asked again what this one was asked.
      if (
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' &&
        !this.closed &&
        this.heapMb < 16_384
      ) {
        this.heapMb *= 2;
        this.restarts++;
        const next = this.start(false);
        void this.filling.then(() => {
          if (this.worker !== next || this.waiting.size === 0) return;
          next.ref();
          for (const w of this.waiting.values()) next.postMessage(w.message);
        });
        return;
      }
      // Anything else: what waits fails, and the next call starts a thread (so one that cannot
      // start does not loop).
      for (const w of this.waiting.values())
        w.reject(new Error(`search index thread stopped: ${err.message}`));
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    if (!empty) this.filling = this.fill(worker);
    return worker;
  }

  private async fill(worker: Worker): Promise<void> {
    let batch: IndexedPaper[] = [];
    for await (const p of this.reload()) {
      batch.push(indexedPaper(p));
      if (batch.length >= 2000) {
        if (this.worker !== worker) return;
        worker.postMessage({ t: 'add', papers: batch } satisfies IndexMessage);
        batch = [];
      }
    }
    if (batch.length > 0 && this.worker === worker)
      worker.postMessage({ t: 'add', papers: batch } satisfies IndexMessage);
  }

  private current(): Worker {
    if (this.closed) throw new Error('the paper library is closed');
    return this.worker ?? this.start(false);
  }

  add(papers: readonly IndexedPaper[]): void {
    if (papers.length === 0 || this.closed) return;
    this.current().postMessage({ t: 'add', papers: [...papers] } satisfies IndexMessage);
  }

  /** Sends `message` once the thread is filled; an error reply rejects. */
  private async call(message: IndexMessage & { id: number }): Promise<SearchResult> {
    this.current(); // starts (and fills) a thread if there is none
    await this.filling;
    const worker = this.current();
    return new Promise<SearchResult>((resolve, reject) => {
      this.waiting.set(message.id, { message, resolve, reject });
      worker.ref();
      worker.postMessage(message);
    });
  }

  async search(query: Query, opts: SearchOptions): Promise<SearchResult> {
    return this.call({
      t: 'search',
      id: ++this.calls,
      query: plainQuery(query),
      limit: opts.limit,
      offset: opts.offset ?? 0,
      since: opts.since?.toISOString(),
    });
  }

  async sync(): Promise<void> {
    await this.call({ t: 'sync', id: ++this.calls });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    for (const w of this.waiting.values()) w.reject(new Error('the paper library is closed'));
    this.waiting.clear();
    await worker?.terminate();
  }
}

export interface LibraryOptions {
  /**
   * `worker`: the search index runs on a thread of its own (the service's choice: a cycle's
   * indexing then overlaps its matching and writing). `main` (default): on the caller's thread.
   */
  searchThread?: 'main' | 'worker';
  /** The search thread's heap to start with, in MB (it doubles whenever the index outgrows it). */
  searchHeapMb?: number;
}

export class PaperLibrary {
  private readonly ids = new Set<PaperId>();
  private matcher: { key: string; matcher: Matcher; subs: Map<string, Subscription> } | undefined;

  private constructor(
    private readonly store: Store,
    private readonly index: IndexHost,
  ) {}

  /** Reads every stored paper into the index. */
  static async load(store: Store, opts: LibraryOptions = {}): Promise<PaperLibrary> {
    const host =
      opts.searchThread === 'worker'
        ? new WorkerIndex(() => store.papers.iterate(), opts.searchHeapMb ?? 128)
        : new LocalIndex();
    if (host instanceof WorkerIndex) host.start(true);
    const lib = new PaperLibrary(store, host);
    let batch: Paper[] = [];
    for await (const paper of store.papers.iterate()) {
      batch.push(paper);
      if (batch.length >= 2000) {
        lib.add(batch);
        batch = [];
      }
    }
    lib.add(batch);
    return lib;
  }

  get size(): number {
    return this.ids.size;
  }

  /** How often the search thread was started again with a bigger heap. */
  get searchRestarts(): number {
    return this.index instanceof WorkerIndex ? this.index.restarts : 0;
  }

  /** Adds new papers and re-indexes changed ones (searchable at once, or after {@link sync}). */
  add(papers: readonly Paper[]): void {
    for (const p of papers) this.ids.add(p.id);
    this.index.add(papers.map(indexedPaper));
  }

  /** Resolves once every paper added so far is searchable. */
  sync(): Promise<void> {
    return this.index.sync();
  }

  /** Ranked papers matching `query`, optionally only those first seen at or after `since`. */
  search(query: Query, opts: SearchOptions): Promise<SearchResult> {
    return this.index.search(query, opts);
  }

  /** Stops the search thread, if there is one. */
  close(): Promise<void> {
    return this.index.close();
  }

  /** Full records for ids, in the given order. */
  async papers(ids: readonly PaperId[]): Promise<Paper[]> {
    const got = await this.store.papers.getMany(ids);
    return ids.map((id) => got.get(id)).filter((p): p is Paper => p !== undefined);
  }

  /** Why `paper` does or does not match each subscription. */
  explain(
    paper: Paper,
    subs: readonly Subscription[],
  ): Array<{ sub: Subscription; explanation: Explanation }> {
    const doc = analyzePaper(paper);
    return subs.map((sub) => ({ sub, explanation: explainMatch(compileQuery(sub.query), doc) }));
  }

  /**
   * The compiled matcher for `subs`, rebuilt only when the set of subscriptions changed
   * (`cache: false` compiles a one-off matcher and leaves the cached one alone).
   */
  matcherFor(
    subs: readonly Subscription[],
    opts: { cache?: boolean } = {},
  ): { matcher: Matcher; subs: Map<string, Subscription> } {
    if (opts.cache === false) return compileSubs(subs);
    // The store hands out the same subscription objects until the set changes: when every one
    // is the very object compiled last time, the set is that one, and the sort and hash of
    // 10k queries (~7 ms a call) are not needed.
    const last = this.matcher;
    if (last && subs.length === last.subs.size && subs.every((s) => last.subs.get(s.id) === s))
      return { matcher: last.matcher, subs: last.subs };
    const key = hash64(
      subs
        .map((s) => `${s.id}\u0000${s.query}`)
        .sort()
        .join('\n'),
    );
    if (this.matcher?.key !== key) this.matcher = { key, ...compileSubs(subs) };
    return { matcher: this.matcher.matcher, subs: this.matcher.subs };
  }
}

function compileSubs(subs: readonly Subscription[]): { matcher: Matcher; subs: Map<string, Subscription> } {
  const valid: Array<{ id: string; query: Query }> = [];
  for (const s of subs) {
    const parsed = parseQuery(s.query);
    // A stored query that no longer parses (the language changed) matches nothing rather than
    // stopping every other subscription; `subs list` shows it.
    if (parsed.ok) valid.push({ id: s.id, query: parsed.query });
  }
  return { matcher: compileMatcher(valid), subs: new Map(subs.map((s) => [s.id, s])) };
}

/** A subscription as the planner needs it, made once per subscription set. */
interface PlanSub {
  id: string;
  notifyUpdates: boolean;
  target: PlanTarget;
  /** The plan this subscription was last added to its group's table in, and at which index. */
  plan: number;
  index: number;
}

/** A target as the planner needs it: its key once, and scratch space reused by every plan. */
interface PlanTarget {
  target: Target;
  key: string;
  /** The plan `group` and `words` belong to. */
  plan: number;
  /** Undefined between plans (see {@link planByTarget}'s end). */
  group: PlannedGroup | undefined;
  words: Map<string, number>;
  /** Per word of `group`, the last row that named it (words are listed once per row). */
  wordRow: number[];
  /** The paper `subs`/`hits` were collected for: its first `n` hits on this target, best first. */
  paper: number;
  n: number;
  subs: PlanSub[];
  hits: MatchHit[];
}

const NO_WORDS: Map<string, number> = new Map();

const planSubsOf = new WeakMap<ReadonlyMap<string, Subscription>, Map<string, PlanSub>>();
let planSerial = 0;
let paperSerial = 0;

function planSubs(subs: ReadonlyMap<string, Subscription>): Map<string, PlanSub> {
  let out = planSubsOf.get(subs);
  if (out) return out;
  out = new Map();
  const targets = new Map<string, PlanTarget>();
  for (const [id, sub] of subs) {
    const key = targetKey(sub.target);
    let target = targets.get(key);
    if (!target) {
      target = {
        target: sub.target,
        key,
        plan: 0,
        group: plannedGroup(sub.target, key),
        words: new Map(),
        wordRow: [],
        paper: 0,
        n: 0,
        subs: [],
        hits: [],
      };
      targets.set(key, target);
    }
    out.set(id, { id, notifyUpdates: sub.notifyUpdates, target, plan: 0, index: 0 });
  }
  planSubsOf.set(subs, out);
  return out;
}

/**
 * Turns matches of new (or updated) papers into outbox deliveries: one per paper and target,
 * naming every subscription of that target that matched (best first) and the words they
 * matched. Updates only reach subscriptions that asked for them. Plans straight into the
 * outbox's per-target form: no object, id or array per delivery (see {@link DeliveryPlan}).
 */
export function planByTarget(
  papers: ReadonlyArray<{ paper: Paper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, Subscription>,
  now: Date,
): DeliveryPlan {
  const createdAt = now.toISOString();
  const plan: DeliveryPlan = { createdAt, groups: [], count: 0 };
  const info = planSubs(subs);
  const serial = ++planSerial;
  // Scratch arrays keep their length (setting it to 0 per paper let V8 reallocate them).
  const touched: PlanTarget[] = [];
  const planned: PlanTarget[] = [];
  for (const { paper, kind } of papers) {
    const hits = matcher.match(analyzePaper(paper));
    if (hits.length === 0) continue;
    const update = kind === 'update';
    const current = ++paperSerial;
    let nTouched = 0;
    for (const hit of hits) {
      const sub = info.get(hit.subscriptionId);
      if (sub === undefined || (update && !sub.notifyUpdates)) continue;
      const t = sub.target;
      if (t.paper !== current) {
        t.paper = current;
        t.n = 0;
        touched[nTouched++] = t;
      }
      // Hits come best first; this keeps a target's hits so (stably) whatever the matcher does.
      let at = t.n++;
      while (at > 0 && (t.hits[at - 1] as MatchHit).score < hit.score) {
        t.hits[at] = t.hits[at - 1] as MatchHit;
        t.subs[at] = t.subs[at - 1] as PlanSub;
        at--;
      }
      t.hits[at] = hit;
      t.subs[at] = sub;
    }
    for (let k = 0; k < nTouched; k++) {
      const t = touched[k] as PlanTarget;
      let g = t.group;
      if (t.plan !== serial || g === undefined) {
        t.plan = serial;
        g = plannedGroup(t.target, t.key);
        t.group = g;
        t.words = new Map();
        t.wordRow = [];
        plan.groups.push(g);
        planned.push(t);
      }
      const row = g.paperIds.length;
      g.paperIds.push(paper.id);
      g.scores.push((t.hits[0] as MatchHit).score);
      const refs = g.refs;
      const n = t.n;
      refs.push(n);
      for (let h = 0; h < n; h++) {
        const sub = t.subs[h] as PlanSub;
        if (sub.plan !== serial) {
          sub.plan = serial;
          sub.index = g.subs.length;
          g.subs.push(sub.id);
        }
        refs.push(sub.index);
      }
      const countAt = refs.length;
      refs.push(0);
      let words = 0;
      for (let h = 0; h < n; h++) {
        for (const w of (t.hits[h] as MatchHit).terms) {
          let i = t.words.get(w);
          if (i === undefined) {
            i = g.words.length;
            g.words.push(w);
            t.wordRow.push(-1);
            t.words.set(w, i);
          }
          if (t.wordRow[i] !== row) {
            t.wordRow[i] = row;
            refs.push(i);
            words++;
          }
        }
      }
      refs[countAt] = words;
      if (update) g.extra.push([row, 'update', '', `|u:${paper.updatedAt ?? createdAt}`]);
      plan.count++;
    }
  }
  // The scratch lets go of this plan: kept, each target's group, words and last hits (and the
  // matcher's last paper) would hold the batch's text, and the feed document it was cut from,
  // until the next plan.
  matcher.release();
  for (const t of planned) {
    t.group = undefined;
    t.words = NO_WORDS;
    t.hits.length = 0;
    t.subs.length = 0;
  }
  return plan;
}

/** {@link planByTarget} as `Delivery` objects, target by target. */
export function planDeliveries(
  papers: ReadonlyArray<{ paper: Paper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, Subscription>,
  now: Date,
): Delivery[] {
  return expandPlan(planByTarget(papers, matcher, subs, now));
}
