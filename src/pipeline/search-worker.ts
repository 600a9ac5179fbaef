/**
 * The search index on its own thread (see {@link PaperLibrary}), and the cycle's planning with it:
 * indexing and matching a cycle's papers cost more CPU than the rest of the cycle, and here they
 * run beside it instead of in it. A search sent after an `add` or a `plan` sees those papers.
 *
 * A plan's papers are indexed as it is made, and then matched from the words the index read
 * in them: each paper's text is read once for both (ADR 9, stop 18 addendum). The cycle sends
 * its next step before it writes the last, so a plan is waiting when this thread is done with
 * one. Papers sent by `add` wait in {@link pending} and are indexed a slice at a time between
 * messages, all of them before a plan, a search or a sync is answered, and the oldest at once
 * when more than {@link MAX_PENDING} wait (they are whole records on this heap until indexed).
 */
import { parentPort } from 'node:worker_threads';
import { type Matcher, PaperWords, type Query, WordPool } from '../core/query/index.js';
import { reviveQuery } from '../core/query/parse.js';
import type { IndexMessage, IndexReply } from './library.js';
import { type IndexedPaper, PagedIndex } from './paged-index.js';
import { compileSubs, type PlanSubscription, planWire } from './plan.js';

const port = parentPort;
if (!port) throw new Error('search-worker.ts runs as a worker thread');

// Every string here came by structured clone: the index's own copy already.
const index = new PagedIndex({ ownStrings: true });

/**
 * Papers waiting to be indexed at most: 3 feeds of 2000, whose text (~1.5 kB a synthetic paper)
 * is ~9 MB on this heap until indexed. An estimate from the corpus, not a measurement.
 */
const MAX_PENDING = 6000;
/**
 * Papers indexed between two turns of the event loop, so a plan waits little: ~7 ms at the
 * ~26 µs a paper indexing took in a profiled cycle (2.6 s for 100k).
 */
const SLICE = 250;
/** Batches waiting to be indexed, oldest first; the first from {@link pendingFrom}. */
const pending: IndexedPaper[][] = [];
let pendingFrom = 0;
let pendingCount = 0;
let slicing = false;

/** Indexes up to `n` of the waiting papers, oldest first. */
function indexPending(n: number): void {
  while (n > 0 && pendingCount > 0) {
    const batch = pending[0] as IndexedPaper[];
    const take = Math.min(n, batch.length - pendingFrom);
    index.add(
      pendingFrom === 0 && take === batch.length ? batch : batch.slice(pendingFrom, pendingFrom + take),
    );
    pendingFrom += take;
    pendingCount -= take;
    n -= take;
    if (pendingFrom === batch.length) {
      pending.shift();
      pendingFrom = 0;
    }
  }
}

/** One slice, then the next after the messages that came meanwhile. */
function indexSlice(): void {
  slicing = false;
  indexPending(SLICE);
  schedule();
}

function schedule(): void {
  if (slicing || pendingCount === 0) return;
  slicing = true;
  setImmediate(indexSlice);
}

function indexLater(papers: IndexedPaper[]): void {
  if (papers.length === 0) return;
  pending.push(papers);
  pendingCount += papers.length;
  if (pendingCount > MAX_PENDING) indexPending(pendingCount - MAX_PENDING);
  schedule();
}
/** The words of a plan's papers, as the index read them (see the `plan` message). */
const pool = new WordPool();
const words: PaperWords[] = [];
/** The subscription set plans are made against (the last one sent). */
let planning: { key: string; matcher: Matcher; subs: Map<string, PlanSubscription> } | undefined;

port.on('message', (m: IndexMessage) => {
  if (m.t === 'add') {
    indexLater(m.papers);
    return;
  }
  if (m.t === 'subs') {
    planning = { key: m.key, ...compileSubs(m.subs) };
    return;
  }
  if (m.t === 'plan') {
    // The step's papers are indexed first, then matched: the words the index reads in their
    // titles and abstracts are the words the matcher looks up, read once for both. (Paper by
    // paper, the index's and the matcher's tables took turns in the cache.) Papers waiting
    // from before go first, so the index numbers papers in the order they came.
    indexPending(pendingCount);
    const papers = m.papers;
    pool.reset();
    while (words.length < papers.length) words.push(new PaperWords(pool));
    try {
      for (let p = 0; p < papers.length; p++) index.addPaper(papers[p] as IndexedPaper, words[p]);
      if (planning?.key !== m.key) throw new Error(`no subscription set ${m.key} on this thread`);
      const { wire, transfer } = planWire(
        papers.map((paper) => ({ paper, kind: paper.kind })),
        planning.matcher,
        planning.subs,
        new Date(m.now),
        (p) => words[p],
      );
      port.postMessage({ id: m.id, plan: wire } satisfies IndexReply, transfer);
    } catch (err) {
      port.postMessage({
        id: m.id,
        error: err instanceof Error ? err.message : String(err),
      } satisfies IndexReply);
    } finally {
      for (let p = 0; p < papers.length; p++) (words[p] as PaperWords).clear();
    }
    return;
  }
  indexPending(pendingCount);
  let reply: IndexReply;
  try {
    reply =
      m.t === 'sync'
        ? { id: m.id, total: index.size, hits: [] }
        : { id: m.id, ...index.search(reviveQuery(m.query as Query), m) };
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
