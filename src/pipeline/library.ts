/**
 * The library: every stored paper in a search index, and the subscriptions compiled into a
 * matcher. Loaded once from the store, then kept current by each cycle, so searches, previews,
 * `/paper why` and matching never scan the store.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bundleSearchWorker, isBundled } from '../build.js';
import { hash64, type Paper, type PaperId } from '../core/paper.js';
import {
  analyzePaper,
  type Explanation,
  explainMatch,
  type Matcher,
  parseQuery,
  type Query,
} from '../core/query/index.js';
import { plainQuery } from '../core/query/parse.js';
import type { DeliveryPlan, Subscription } from '../core/subscription.js';
import type { Store } from '../store/types.js';
import { type IndexedPaper, PagedIndex, type SearchResult } from './paged-index.js';
import { compileSubs, type PlanSubscription, planByTarget, unpackPlan, type WirePlan } from './plan.js';

export { planByTarget, planDeliveries } from './plan.js';
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

/** A paper to plan and index: what the index keeps, its kind in this step, when it changed. */
export type PlannedPaper = IndexedPaper & { kind: 'new' | 'update'; updatedAt?: string };

/** To the search thread. */
export type IndexMessage =
  | { t: 'add'; papers: IndexedPaper[] }
  | { t: 'sync'; id: number }
  | { t: 'search'; id: number; query: Query; limit: number; offset: number; since: string | undefined }
  /** The subscriptions later plans match against, compiled there once per set (`key`). */
  | { t: 'subs'; key: string; subs: PlanSubscription[] }
  /** Plans the papers' deliveries against subscription set `key`, replies, then indexes them. */
  | { t: 'plan'; id: number; key: string; papers: PlannedPaper[]; now: string };

/** From the search thread. */
export type IndexReply =
  | ({ id: number } & SearchResult)
  | { id: number; plan: WirePlan }
  | { id: number; error: string };

interface SearchOptions {
  limit: number;
  offset?: number;
  since?: Date;
}

let workerScript: string | undefined;

/**
 * The search thread's code as one plain script: `dist/search-worker.cjs` beside a bundle
 * (`src/build.ts`), or bundled once per process from its TypeScript (esbuild, ~40 ms). A thread
 * that loaded our sources through tsx, as the process does then, would start tsx's module-hooks
 * thread for itself: ~30 MB of RSS for the life of the process.
 */
function searchWorkerScript(): string {
  workerScript ??= isBundled() ? prebuiltSearchWorker() : bundleSearchWorker();
  return workerScript;
}

/** `dist/search-worker.cjs`, beside this bundle. */
function prebuiltSearchWorker(): string {
  const file = new URL('./search-worker.cjs', import.meta.url);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `the search thread's script ${fileURLToPath(file)} cannot be read (${(err as Error).message}): ` +
        'run `npm run build`',
    );
  }
}

/** Where the search index lives: this thread, or a worker thread of its own. */
interface IndexHost {
  add(papers: readonly IndexedPaper[]): void;
  /**
   * Plans `papers`' deliveries against `subs` (set `key`) and adds them to the index. Undefined
   * when this host does not plan: the caller plans on its own thread.
   */
  plan?(
    papers: PlannedPaper[],
    subs: readonly PlanSubscription[],
    key: string,
    now: Date,
  ): Promise<DeliveryPlan>;
  /** Hands the planning thread subscription set `key` now, to compile before plans ask for it. */
  prepare?(subs: readonly PlanSubscription[], key: string): void;
  search(query: Query, opts: SearchOptions): Promise<SearchResult>;
  /** Resolves once every paper added so far is searchable, with how many papers are. */
  sync(): Promise<number>;
  /** Builds the index again from the store (papers now outside the window drop out). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

function plannedPaper(p: Paper, kind: 'new' | 'update'): PlannedPaper {
  const out: PlannedPaper = { ...indexedPaper(p), kind };
  if (p.updatedAt !== undefined) out.updatedAt = p.updatedAt;
  return out;
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

/** Papers `size` at a time, the last batch possibly shorter (and none for no papers). */
async function* inBatches(papers: AsyncIterable<Paper>, size = 2000): AsyncGenerator<Paper[]> {
  let batch: Paper[] = [];
  for await (const p of papers) {
    batch.push(p);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The index on the calling thread: searches answer at once, indexing takes the caller's time. */
class LocalIndex implements IndexHost {
  private index = new PagedIndex();

  constructor(private readonly reload: () => AsyncIterable<Paper>) {}

  async refresh(): Promise<void> {
    const next = new PagedIndex();
    for await (const batch of inBatches(this.reload())) next.add(batch.map(indexedPaper));
    this.index = next;
  }

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

  async sync(): Promise<number> {
    return this.index.size;
  }

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
    { message: IndexMessage; resolve: (r: IndexReply) => void; reject: (e: Error) => void }
  >();
  private calls = 0;
  private closed = false;
  /** A new thread being filled from the store: searches wait for it. */
  private filling: Promise<void> = Promise.resolve();
  /** Threads started again after running out of heap (each time with twice the heap). */
  restarts = 0;
  /** The subscriptions plans are made against, sent first to every thread started. */
  private subs: { message: IndexMessage & { t: 'subs' }; ids: string[] } | undefined;

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
      if ('error' in r)
        w.reject(new Error(`${w.message.t === 'plan' ? 'planning' : 'search'} failed: ${r.error}`));
      else w.resolve(r);
    });
    if (this.subs) worker.postMessage(this.subs.message);
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
        void this.filling.then(
          () => {
            if (this.worker !== next || this.waiting.size === 0) return;
            next.ref();
            for (const w of this.waiting.values()) next.postMessage(w.message);
          },
          () => undefined, // what waited has failed with the store's error (see `start`)
        );
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
    if (!empty) {
      const filling = this.fill(worker).catch((err: unknown) => {
        // A thread the store could not fill is asked nothing more: what waits fails with the
        // store's error, and the next call starts (and fills) another.
        if (this.worker === worker) {
          this.worker = undefined;
          void worker.terminate();
          const why = new Error(
            `the search index could not be filled: ${err instanceof Error ? err.message : String(err)}`,
          );
          for (const w of this.waiting.values()) w.reject(why);
          this.waiting.clear();
        }
        throw err;
      });
      // Awaited by calls and refreshes; one nobody awaits is not an unhandled rejection.
      filling.catch(() => undefined);
      this.filling = filling;
    }
    return worker;
  }

  private async fill(worker: Worker): Promise<void> {
    for await (const batch of inBatches(this.reload())) {
      if (this.worker !== worker) return;
      worker.postMessage({ t: 'add', papers: batch.map(indexedPaper) } satisfies IndexMessage);
    }
  }

  /** How long the running thread has been busy, in ms (its event loop's active time, GC included). */
  busyMs(): number {
    return this.worker?.performance.eventLoopUtilization().active ?? 0;
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
  private async call(message: IndexMessage & { id: number }): Promise<IndexReply> {
    let worker = this.current(); // starts (and fills) a thread if there is none
    await this.filling;
    // A thread started meanwhile (by a refresh, or after one died) is filled before it is asked.
    while (this.current() !== worker) {
      worker = this.current();
      await this.filling;
    }
    return new Promise<IndexReply>((resolve, reject) => {
      this.waiting.set(message.id, { message, resolve, reject });
      worker.ref();
      worker.postMessage(message);
    });
  }

  async search(query: Query, opts: SearchOptions): Promise<SearchResult> {
    const r = await this.call({
      t: 'search',
      id: ++this.calls,
      query: plainQuery(query),
      limit: opts.limit,
      offset: opts.offset ?? 0,
      since: opts.since?.toISOString(),
    });
    if (!('hits' in r)) throw new Error('search: the thread answered something else');
    return { total: r.total, hits: r.hits };
  }

  async plan(
    papers: PlannedPaper[],
    subs: readonly PlanSubscription[],
    key: string,
    now: Date,
  ): Promise<DeliveryPlan> {
    if (this.closed) throw new Error('the paper library is closed');
    const { ids } = this.sendSubs(subs, key);
    const r = await this.call({ t: 'plan', id: ++this.calls, key, papers, now: now.toISOString() });
    if (!('plan' in r)) throw new Error('planning: the thread answered something else');
    return unpackPlan(
      r.plan,
      papers.map((p) => p.id),
      ids,
    );
  }

  prepare(subs: readonly PlanSubscription[], key: string): void {
    if (!this.closed) this.sendSubs(subs, key);
  }

  /** Sends set `key` to the thread unless it was the last one sent; returns it as sent. */
  private sendSubs(subs: readonly PlanSubscription[], key: string): { ids: string[] } {
    if (this.subs?.message.key !== key) {
      const message = {
        t: 'subs' as const,
        key,
        subs: subs.map(({ id, query, target, notifyUpdates }) => ({ id, query, target, notifyUpdates })),
      };
      const running = this.worker;
      // The thread refers to them by their order as a Map's keys (see `planWire`): each id once.
      this.subs = { message, ids: [...new Set(message.subs.map((s) => s.id))] };
      // A thread started from now on is sent them first (see `start`).
      running?.postMessage(message);
    }
    return this.subs;
  }

  async sync(): Promise<number> {
    const r = await this.call({ t: 'sync', id: ++this.calls });
    if (!('total' in r)) throw new Error('sync: the thread answered something else');
    return r.total;
  }

  /**
   * Stops the running thread and starts one filled from the store: its memory (what removed or
   * re-indexed papers left behind, papers now outside the window) goes back to the system.
   * Calls waiting on the old thread are asked of the new one once it is filled.
   */
  async refresh(): Promise<void> {
    if (this.closed) return;
    const old = this.worker;
    this.worker = undefined;
    await old?.terminate();
    // A call meanwhile may have started a thread (filled from the store): that one will do.
    if (this.closed || this.worker) return;
    const next = this.start(false);
    await this.filling;
    // Read again after the await (TypeScript keeps the narrowing above across it).
    if ((this.worker as Worker | undefined) !== next || this.waiting.size === 0) return;
    next.ref();
    for (const w of this.waiting.values()) next.postMessage(w.message);
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
  /**
   * Only papers first seen in the last this many days are indexed when the index is filled from
   * the store (at load and {@link PaperLibrary.refresh}); 0 or absent: every paper.
   */
  windowDays?: number;
  /** The clock the window is measured by. */
  now?: () => Date;
}

/**
 * The stored papers first seen within `windowDays` of `now()` (every one for 0). A first-seen
 * value that is not a time is kept: the window only drops what it can date.
 */
export async function* papersInWindow(
  store: Store,
  windowDays: number,
  now: () => Date,
): AsyncGenerator<Paper> {
  if (windowDays <= 0) {
    yield* store.papers.iterate();
    return;
  }
  const from = now().getTime() - windowDays * 86_400_000;
  for await (const p of store.papers.iterate()) {
    const seen = Date.parse(p.firstSeen);
    if (!(seen < from)) yield p;
  }
}

export class PaperLibrary {
  private matcher: { key: string; matcher: Matcher; subs: Map<string, Subscription> } | undefined;

  private constructor(
    private readonly store: Store,
    private readonly index: IndexHost,
  ) {}

  /** Reads every stored paper into the index. */
  static async load(store: Store, opts: LibraryOptions = {}): Promise<PaperLibrary> {
    const now = opts.now ?? (() => new Date());
    const reload = () => papersInWindow(store, opts.windowDays ?? 0, now);
    const host =
      opts.searchThread === 'worker'
        ? new WorkerIndex(reload, opts.searchHeapMb ?? 128)
        : new LocalIndex(reload);
    if (host instanceof WorkerIndex) host.start(true);
    const lib = new PaperLibrary(store, host);
    for await (const batch of inBatches(reload())) lib.add(batch);
    return lib;
  }

  /**
   * How many papers are searchable, once every paper added so far is. Asked of the index: a set
   * of every id on this thread, kept for this one figure, held ~2.6 MB of live heap at 100k
   * papers (heap snapshots, mid-cycle).
   */
  count(): Promise<number> {
    return this.index.sync();
  }

  /**
   * How long the search thread now running has been busy, in ms (its event loop's active time,
   * GC included); undefined when the index is on this thread. With the process's own figure
   * (`performance.eventLoopUtilization()`), which of the two threads bounds a cycle.
   */
  get searchBusyMs(): number | undefined {
    return this.index instanceof WorkerIndex ? this.index.busyMs() : undefined;
  }

  /** How often the search thread was started again with a bigger heap. */
  get searchRestarts(): number {
    return this.index instanceof WorkerIndex ? this.index.restarts : 0;
  }

  /** Adds new papers and re-indexes changed ones (searchable at once, or after {@link sync}). */
  add(papers: readonly Paper[]): void {
    this.index.add(papers.map(indexedPaper));
  }

  /** Resolves once every paper added so far is searchable. */
  async sync(): Promise<void> {
    await this.index.sync();
  }

  /** Ranked papers matching `query`, optionally only those first seen at or after `since`. */
  search(query: Query, opts: SearchOptions): Promise<SearchResult> {
    return this.index.search(query, opts);
  }

  /**
   * Builds the index again from the store, as at load: papers that have left the window drop
   * out, and the memory of re-indexed papers' old text is given back. Searches meanwhile wait
   * for it (with the index on its own thread) or see the old index until it is done.
   */
  refresh(): Promise<void> {
    return this.index.refresh();
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

  /**
   * Plans the deliveries of a step's papers against `subs` (see {@link planByTarget}) and adds
   * the papers to the index. With the index on its own thread, that thread does both, and the
   * caller's thread goes on meanwhile (the next source's ingest, in a cycle).
   */
  async plan(
    papers: ReadonlyArray<{ paper: Paper; kind: 'new' | 'update' }>,
    subs: readonly Subscription[],
    now: Date,
  ): Promise<DeliveryPlan> {
    if (this.index.plan)
      return this.index.plan(
        papers.map(({ paper, kind }) => plannedPaper(paper, kind)),
        subs,
        this.setKey(subs),
        now,
      );
    const { matcher, subs: byId } = this.matcherFor(subs);
    const plan = planByTarget(papers, matcher, byId, now);
    this.index.add(papers.map(({ paper }) => indexedPaper(paper)));
    return plan;
  }

  /**
   * Hands `subs` to the search thread ahead of the cycle's first {@link plan}, so the thread
   * compiles them (~0.2 s for 10k) while this thread reads the first source, instead of the first
   * plan waiting for it. Nothing happens when they are the set it has, or with the index on this
   * thread (which compiles at its first plan, as before).
   */
  prepare(subs: readonly Subscription[]): void {
    this.index.prepare?.(subs, this.setKey(subs));
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
    const key = this.setKey(subs);
    if (this.matcher?.key !== key) this.matcher = { key, ...compileSubs(subs) };
    return { matcher: this.matcher.matcher, subs: this.matcher.subs };
  }

  /** The last subscription set keyed, by id, and its key. */
  private lastSet: { key: string; byId: Map<string, Subscription> } | undefined;

  /**
   * A key for the set `subs`: the same ids, queries and choices of updates, the same key (a
   * subscription removed and made again may differ in updates only).
   */
  private setKey(subs: readonly Subscription[]): string {
    // The store hands out the same subscription objects until the set changes: when every one
    // is the very object keyed last time, the set is that one, and the sort and hash of 10k
    // queries (~7 ms a call) are not needed.
    const last = this.lastSet;
    if (last && subs.length === last.byId.size && subs.every((s) => last.byId.get(s.id) === s))
      return last.key;
    const key = hash64(
      subs
        .map((s) => `${s.id}\u0000${s.notifyUpdates ? 'u' : ''}\u0000${s.query}`)
        .sort()
        .join('\n'),
    );
    this.lastSet = { key, byId: new Map(subs.map((s) => [s.id, s])) };
    return key;
  }
}
