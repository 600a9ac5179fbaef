/**
 * One cycle: ingest every source, match what is new against every subscription, and put the
 * matches in the outbox. Posting is separate (`deliver.ts`): a match is in the store before any
 * message is sent, so a crash after this point loses nothing.
 */
import { hash64, type Paper, type PaperId } from '../core/paper.js';
import { parseTarget, type Subscription, type Target } from '../core/subscription.js';
import type { MatchJournalEntry, SourceState, Store, UnlistedRecords } from '../store/types.js';
import { type IngestOptions, type IngestReport, ingest, type SourceSpec } from './ingest.js';
import { compileQuery, type PaperLibrary, planDeliveries } from './library.js';

export interface MatchReport {
  /** Papers matched against the subscriptions (new, plus updated ones). */
  papers: number;
  /** (paper, target) pairs that matched. */
  matched: number;
  /** Deliveries added to the outbox (a pair already there is not added again). */
  enqueued: number;
  /** Targets that have pending deliveries after this cycle. */
  targets: Target[];
}

export interface CycleReport {
  startedAt: string;
  durationMs: number;
  ingest: IngestReport;
  match: MatchReport;
  /** Feeds read fine whose newest entry is older than `staleAfterHours`: quiet for too long. */
  stale: string[];
}

/**
 * Sources that answer but have had nothing new for longer than they normally go quiet — distinct
 * from "failing" (no answer) and from "no announcement" (an empty arXiv feed on a weekend).
 */
export function staleSources(
  states: ReadonlyMap<string, SourceState>,
  names: readonly string[],
  now: Date,
  staleAfterHours: number,
): string[] {
  const limit = now.getTime() - staleAfterHours * 3_600_000;
  return names.filter((name) => {
    const s = states.get(name);
    if (!s?.newestEntryAt || s.failingSince) return false;
    const newest = Date.parse(s.newestEntryAt);
    return Number.isFinite(newest) && newest < limit;
  });
}

export interface CycleOptions extends Omit<IngestOptions, 'store'> {
  store: Store;
  library: PaperLibrary;
  sources: readonly SourceSpec[];
  staleAfterHours?: number;
}

/** Ingest + match + enqueue. Never throws for a source's failure (see the ingest report). */
export async function runCycle(opts: CycleOptions): Promise<CycleReport> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const staged = stagePapers();
  // Each source's papers are matched while the next is read: the planning runs on the search
  // thread when the library has one, and what the next source costs this thread overlaps it.
  const matching = matchBehind(opts.store, opts.library, now, staged.papers);
  const report = await ingest(opts.sources, {
    ...opts,
    journal: true,
    onStored: staged.add,
    onMerged: matching.kick,
  });
  const match = await matching.done();
  const feeds = opts.sources.filter((s) => s.type === 'feed').map((s) => s.name);
  const stale = staleSources(await opts.store.sources.getAll(), feeds, now(), opts.staleAfterHours ?? 96);
  return {
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    ingest: report,
    match,
    stale,
  };
}

/** Papers stored but not matched yet past which ingest waits for matching to catch up. */
export const MATCH_BACKLOG = 2000;

/**
 * Papers whose deliveries {@link matchBehind} writes before it lists them. Listing a step
 * rewrites the queue index of every target it wrote (~2000 values a step in a 100k-paper
 * cycle, one entry longer each step): listed 20 steps at a time, that cycle wrote 558 MB
 * instead of 631 and its main thread spent 0.3–0.4 s less (ADR 9 addendum). A crash before
 * listing costs a replay of at most this many papers' matches (their journal entries are still
 * there).
 */
export const LIST_EVERY = 40_000;

/**
 * Matching that follows ingest: `kick` after papers are stored queues a {@link matchNewPapers}
 * call behind the one running (one waiting call is enough: it reads the whole journal when it
 * starts), and `done` waits for them, matches what is left and returns the sum. When more than
 * {@link MATCH_BACKLOG} staged papers wait, `kick` returns the running call to wait on, so a
 * fast ingest does not pile up papers (and the feed documents they are cut from) in memory.
 * The calls write their outbox records unlisted; they are listed, and their journal entries
 * removed, every `listEvery` papers ({@link LIST_EVERY}) and by `done`. A failed call stops the
 * chain; `done` lists what was written before it, throws its error, and the journal keeps what
 * it had not matched for the next cycle.
 */
export function matchBehind(
  store: Store,
  library: PaperLibrary,
  now: () => Date,
  staged: Map<PaperId, Paper>,
  opts: { listEvery?: number } = {},
): { kick: () => Promise<void> | undefined; done: () => Promise<MatchReport> } {
  const listEvery = opts.listEvery ?? LIST_EVERY;
  // The search thread compiles the subscriptions while the first source is read. A failure here
  // changes nothing: the first step lists them again and hands them over with its plan.
  store.subscriptions
    .list()
    .then((subs) => library.prepare(subs))
    .catch(() => undefined);
  const total: MatchReport = { papers: 0, matched: 0, enqueued: 0, targets: [] };
  const add = (r: MatchReport) => {
    total.papers += r.papers;
    total.matched += r.matched;
    total.enqueued += r.enqueued;
  };
  // One pass: a paper a call matched as new is not matched again as changed by a later one.
  const firstSeen = new Set<PaperId>();
  const unlisted: UnlistedSteps = { records: [], entries: new Set(), papers: 0 };
  /** Lists what was written, then lets the journal go of it. */
  const list = async () => {
    if (unlisted.records.length > 0) await store.outbox.list(unlisted.records);
    if (unlisted.entries.size > 0) await store.journal.remove([...unlisted.entries]);
    unlisted.records = [];
    unlisted.entries.clear();
    unlisted.papers = 0;
  };
  let tail: Promise<void> = Promise.resolve();
  /** The call running now (settled when none is). */
  let running: Promise<void> = Promise.resolve();
  let waiting = false;
  let failure: { error: unknown } | undefined;
  const step = async () => {
    if (failure) return;
    try {
      add(await matchNewPapers(store, library, now(), { staged, firstSeen, onlyComplete: true, unlisted }));
      if (unlisted.papers >= listEvery) await list();
    } catch (error) {
      failure = { error };
    }
  };
  return {
    kick: () => {
      if (failure) return undefined;
      if (!waiting) {
        waiting = true;
        tail = tail.then(() => {
          waiting = false;
          running = step();
          return running;
        });
      }
      // Ingest waits for the running call only: the one queued behind it then takes what is
      // staged, so the search thread has the next step while this thread merges.
      return staged.size > MATCH_BACKLOG ? running : undefined;
    },
    done: async () => {
      await tail;
      if (!failure)
        try {
          add(await matchNewPapers(store, library, now(), { staged, firstSeen, unlisted }));
        } catch (error) {
          failure = { error };
        }
      // What was written before a failure is listed all the same: less to replay.
      await list();
      if (failure) throw failure.error;
      total.targets = await pendingTargets(store);
      return total;
    },
  };
}

/** Papers an ingest pass stored, kept for its matching step instead of read back (at most this many). */
const MAX_STAGED = 20_000;

/** A holder for the papers an ingest pass writes, so matching them needs no read back. */
export function stagePapers(): { papers: Map<PaperId, Paper>; add: (papers: readonly Paper[]) => void } {
  const papers = new Map<PaperId, Paper>();
  return {
    papers,
    add: (batch) => {
      for (const p of batch) if (papers.size < MAX_STAGED || papers.has(p.id)) papers.set(p.id, p);
    },
  };
}

/** A journal entry whose papers are still missing after this long was left by a writer that died first. */
const UNWRITTEN_GRACE_MS = 3_600_000;

/** Papers per matching step: one outbox write per target per step. */
const MATCH_CHUNK = 2000;

/**
 * Steps a pass has written to the outbox and not listed yet (see {@link matchBehind}): their
 * records, the journal entries they are for (done once listed), and how many papers those name.
 */
export interface UnlistedSteps {
  records: UnlistedRecords[];
  entries: Set<string>;
  papers: number;
}

/**
 * Adds the papers the match journal names (this pass's, and any a killed process left) to the
 * library and enqueues their matches. An entry is removed only once its matches are in the
 * outbox; replaying one rewrites the same outbox records, so a crash in between posts nothing
 * twice.
 */
export async function matchNewPapers(
  store: Store,
  library: PaperLibrary,
  now: Date,
  opts: {
    staged?: Map<PaperId, Paper>;
    stepSize?: number;
    /** Papers first seen in this pass, by earlier calls of it (see {@link matchBehind}); added to. */
    firstSeen?: Set<PaperId>;
    /**
     * Leaves entries whose papers are not all stored yet for a later call: during ingest, the
     * entry of the source being merged is written before its papers.
     */
    onlyComplete?: boolean;
    /**
     * Writes each step's records without listing them, and leaves its journal entries for the
     * caller to remove once it has listed them: collected here. Entries already here are
     * skipped. The report's `targets` is then empty: the caller reads them after listing.
     */
    unlisted?: UnlistedSteps;
  } = {},
): Promise<MatchReport> {
  const stepSize = opts.stepSize ?? MATCH_CHUNK;
  const subs = await store.subscriptions.list();
  const out: MatchReport = { papers: 0, matched: 0, enqueued: 0, targets: [] };
  const unlisted = opts.unlisted;
  const journal = (await store.journal.list()).filter((e) => !unlisted?.entries.has(e.id));
  // A paper first seen and then changed in the same pass is posted once, as new.
  const firstSeen = opts.firstSeen ?? new Set<string>();
  for (const e of journal) for (const id of e.newIds) firstSeen.add(id);
  const steps: Array<{ entries: MatchJournalEntry[]; newIds: string[]; updatedIds: string[] }> = [];
  let step: (typeof steps)[number] | undefined;
  for (const e of journal) {
    if (!step || step.newIds.length + step.updatedIds.length >= stepSize) {
      step = { entries: [], newIds: [], updatedIds: [] };
      steps.push(step);
    }
    step.entries.push(e);
    step.newIds.push(...e.newIds);
    step.updatedIds.push(...e.updatedIds.filter((id) => !firstSeen.has(id)));
  }
  // Every paper an entry names, also changes left out as first seen in this pass: whether an
  // entry's papers are all stored decides when it is done.
  const named = (e: MatchJournalEntry) => [...e.newIds, ...e.updatedIds];
  for (const s of steps) {
    const loaded = await papersOf([...new Set(s.entries.flatMap(named))], library, opts.staged);
    const stored = new Set(loaded.map((p) => p.id));
    if (opts.onlyComplete) {
      const complete = s.entries.filter((e) => named(e).every((id) => stored.has(id)));
      if (complete.length < s.entries.length) {
        s.entries = complete;
        s.newIds = complete.flatMap((e) => e.newIds);
        s.updatedIds = complete.flatMap((e) => e.updatedIds.filter((id) => !firstSeen.has(id)));
      }
    }
    const wanted = new Set([...s.newIds, ...s.updatedIds]);
    const papers = loaded.filter((p) => wanted.has(p.id));
    const newIds = new Set(s.newIds);
    // Matched now: a later change stages the paper again.
    if (opts.staged) for (const e of s.entries) for (const id of named(e)) opts.staged.delete(id);
    out.papers += papers.length;
    if (subs.length === 0 || papers.length === 0) library.add(papers);
    else {
      const planned = await library.plan(
        papers.map((paper) => ({ paper, kind: newIds.has(paper.id) ? 'new' : 'update' })),
        subs,
        now,
      );
      out.matched += planned.count;
      // Papers first seen (or changed) in this pass: no delivery of theirs was planned before.
      const batch = hash64(s.entries.map((e) => e.id).join('\n'));
      if (!unlisted) out.enqueued += await store.outbox.enqueuePlan(planned, { fresh: true, batch });
      else {
        const written = await store.outbox.writePlan(planned, { batch });
        if (written) unlisted.records.push(written);
        out.enqueued += planned.count;
      }
    }
    // An entry naming papers not in the store yet may belong to a cycle still writing them
    // (another instance's): it stays until they are there, or until it is too old to be that.
    const done = s.entries.filter(
      (e) => now.getTime() - Date.parse(e.at) > UNWRITTEN_GRACE_MS || named(e).every((id) => stored.has(id)),
    );
    if (unlisted)
      for (const e of done) {
        unlisted.entries.add(e.id);
        unlisted.papers += e.newIds.length + e.updatedIds.length;
      }
    else if (done.length > 0) await store.journal.remove(done.map((e) => e.id));
  }
  if (!unlisted) out.targets = await pendingTargets(store);
  return out;
}

/** Targets with pending deliveries. */
async function pendingTargets(store: Store): Promise<Target[]> {
  const targets = new Map<string, Target>();
  for (const key of await store.outbox.pendingTargets()) {
    const target = parseTarget(key);
    if (target) targets.set(key, target);
  }
  return [...targets.values()];
}

/** Papers by id, in order: the staged copies, the rest from the store. */
async function papersOf(
  ids: readonly PaperId[],
  library: PaperLibrary,
  staged: ReadonlyMap<PaperId, Paper> | undefined,
): Promise<Paper[]> {
  if (!staged || staged.size === 0) return library.papers(ids);
  const missing = ids.filter((id) => !staged.has(id));
  const loaded = new Map((await library.papers(missing)).map((p) => [p.id, p]));
  return ids.map((id) => staged.get(id) ?? loaded.get(id)).filter((p): p is Paper => p !== undefined);
}

export interface SubscribeResult {
  subscription: Subscription;
  /** False when the same target already had the same query (the existing one is kept). */
  created: boolean;
  /** Papers first seen in the preview window that match, and the best few. */
  preview: { days: number; total: number; top: Paper[] };
  /** Deliveries added so the first digest is not empty (papers of the last `backfillHours`). */
  backfilled: number;
}

/**
 * Saves a subscription (validating its query first), previews what it would have matched, and
 * backfills the outbox with matches first seen in the last `backfillHours`.
 */
export async function subscribe(
  store: Store,
  library: PaperLibrary,
  sub: Subscription,
  opts: { previewDays: number; now: Date },
): Promise<SubscribeResult> {
  const query = compileQuery(sub.query);
  const existing = await store.subscriptions.get(sub.id);
  const saved = existing ?? sub;
  if (!existing) await store.subscriptions.put(sub);
  const since = new Date(opts.now.getTime() - opts.previewDays * 86_400_000);
  const preview = await library.search(query, { limit: 3, since });
  const top = await library.papers(preview.hits.map((h) => h.paperId));
  let backfilled = 0;
  if (!existing && sub.backfillHours > 0) {
    const from = new Date(opts.now.getTime() - sub.backfillHours * 3_600_000);
    const recent = await library.search(query, { limit: 500, since: from });
    const papers = await library.papers(recent.hits.map((h) => h.paperId));
    const { matcher } = library.matcherFor([sub], { cache: false });
    const planned = planDeliveries(
      papers.map((paper) => ({ paper, kind: 'new' as const })),
      matcher,
      new Map([[sub.id, sub]]),
      opts.now,
    );
    backfilled = (await store.outbox.enqueue(planned)).length;
  }
  return {
    subscription: saved,
    created: !existing,
    preview: { days: opts.previewDays, total: preview.total, top },
    backfilled,
  };
}
