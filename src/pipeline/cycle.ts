/**
 * One cycle: ingest every source, match what is new against every subscription, and put the
 * matches in the outbox. Posting is separate (`deliver.ts`): a match is in the store before any
 * message is sent, so a crash after this point loses nothing.
 */
import { hash64, type Paper, type PaperId } from '../core/paper.js';
import { type DeliveryPlan, parseTarget, type Subscription, type Target } from '../core/subscription.js';
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
 * Matching that follows ingest: `kick` after papers are stored queues a read of the journal
 * behind the one running (one waiting read is enough: it takes every entry not planned yet),
 * which sends its steps to be planned; each step is written once planned, in order, after the
 * one before. A step is planned while the one before it is written: with the library's search
 * thread, that thread has the next step waiting when it is done with one (ADR 9, stop 18).
 * `done` waits for them, matches what is left and returns the sum. When two steps are in
 * flight, or more than {@link MATCH_BACKLOG} staged papers wait, `kick` returns the oldest
 * write to wait on, so a fast ingest does not pile up papers (and the feed documents they are
 * cut from) in memory. The steps write their outbox records unlisted; they are listed, and
 * their journal entries removed, every `listEvery` papers ({@link LIST_EVERY}) and by `done`.
 * A failure stops the rest; `done` lists what was written before it, throws its error, and
 * the journal keeps what was not written for the next cycle.
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
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  /**
   * Entries of this pass sent to be planned (written or not): every later read of the journal
   * skips them. Never emptied in the pass: a read runs beside the writes, and a journal read
   * before a listing removed some entries may still hold them once it is filtered.
   */
  const handled = new Set<string>();
  /** The writes of the steps planned and not written yet, oldest first (each settles, never rejects). */
  const writing: Array<Promise<void>> = [];
  let writes: Promise<void> = Promise.resolve();
  /** Reads of the journal, one at a time; each sends its steps to be planned. */
  let reads: Promise<void> = Promise.resolve();
  let waiting = false;
  /** Reads the journal and sends its new steps to be planned, each written in turn after the last. */
  const read = async () => {
    const { steps, ...pass } = await journalSteps(store, {
      staged,
      firstSeen,
      onlyComplete: true,
      unlisted,
      handled,
    });
    for (const step of steps) {
      // A long journal (a killed process's entries) is planned two steps ahead, not all at once.
      while (writing.length >= 2) await writing[0];
      if (failure) return;
      for (const e of step.entries) handled.add(e.id);
      const planned = planStep(step, pass, library, now(), { staged, onlyComplete: true }).then((p) => {
        // An entry whose papers are not all stored yet is left for a later read.
        const kept = new Set(p.entries);
        for (const e of step.entries) if (!kept.has(e)) handled.delete(e.id);
        return p;
      });
      planned.catch(() => undefined);
      const written = writes.then(async () => {
        try {
          if (failure) return;
          await writeStep(store, now(), await planned, unlisted, total);
          if (unlisted.papers >= listEvery) await list();
        } catch (error) {
          fail(error);
        } finally {
          writing.shift();
        }
      });
      writing.push(written);
      writes = written;
    }
  };
  return {
    kick: () => {
      if (failure) return undefined;
      if (!waiting) {
        waiting = true;
        reads = reads.then(() => {
          waiting = false;
          return failure ? undefined : read().catch(fail);
        });
      }
      // Two steps ahead at most: one being planned and one waiting for it, so the search thread
      // always has the next while this thread writes the last and merges the next source. Past
      // that, or past MATCH_BACKLOG staged papers, ingest waits for the oldest write.
      if (writing.length >= 2) return writing[0];
      return staged.size > MATCH_BACKLOG ? (writing[0] ?? reads) : undefined;
    },
    done: async () => {
      await reads;
      await writes;
      if (!failure)
        try {
          add(await matchNewPapers(store, library, now(), { staged, firstSeen, unlisted, handled }));
        } catch (error) {
          fail(error);
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
  opts: MatchOptions = {},
): Promise<MatchReport> {
  const { steps, ...pass } = await journalSteps(store, opts);
  const out: MatchReport = { papers: 0, matched: 0, enqueued: 0, targets: [] };
  // One step ahead: the next is planned (on the search thread) while this one is written.
  let next = steps[0] && planStep(steps[0], pass, library, now, opts);
  for (let k = 0; k < steps.length; k++) {
    const current = await (next as Promise<PlannedStep>);
    const after = steps[k + 1];
    next = after && planStep(after, pass, library, now, opts);
    // A failed write leaves the step planned ahead unwritten: its entries stay in the journal.
    next?.catch(() => undefined);
    await writeStep(store, now, current, opts.unlisted, out);
  }
  if (!opts.unlisted) out.targets = await pendingTargets(store);
  return out;
}

export interface MatchOptions {
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
  /** Entries already sent to be planned in this pass ({@link matchBehind}): skipped too. */
  handled?: ReadonlySet<string>;
}

/** A step of the journal: its entries, and the papers they name to match as new or as changed. */
interface JournalStep {
  entries: MatchJournalEntry[];
  newIds: string[];
  updatedIds: string[];
}

/** What the steps of one pass over the journal are matched with. */
interface PassContext {
  subs: Subscription[];
  /** Papers first seen in this pass (see {@link MatchOptions.firstSeen}). */
  firstSeen: Set<PaperId>;
}

/** The journal's entries not done yet, in steps of about `stepSize` papers. */
async function journalSteps(
  store: Store,
  opts: MatchOptions,
): Promise<PassContext & { steps: JournalStep[] }> {
  const stepSize = opts.stepSize ?? MATCH_CHUNK;
  const subs = await store.subscriptions.list();
  const { unlisted, handled } = opts;
  const journal = (await store.journal.list()).filter(
    (e) => !unlisted?.entries.has(e.id) && !handled?.has(e.id),
  );
  // A paper first seen and then changed in the same pass is posted once, as new.
  const firstSeen = opts.firstSeen ?? new Set<string>();
  for (const e of journal) for (const id of e.newIds) firstSeen.add(id);
  const steps: JournalStep[] = [];
  let step: JournalStep | undefined;
  for (const e of journal) {
    if (!step || step.newIds.length + step.updatedIds.length >= stepSize) {
      step = { entries: [], newIds: [], updatedIds: [] };
      steps.push(step);
    }
    step.entries.push(e);
    step.newIds.push(...e.newIds);
    step.updatedIds.push(...e.updatedIds.filter((id) => !firstSeen.has(id)));
  }
  return { subs, firstSeen, steps };
}

/** A step whose plan was asked for ({@link planStep}), for {@link writeStep}. */
interface PlannedStep {
  entries: MatchJournalEntry[];
  /** Papers of the step that were matched. */
  papers: number;
  /** Papers its entries name that were in the store. */
  stored: Set<PaperId>;
  plan: DeliveryPlan | undefined;
}

/**
 * Loads a step's papers and has them planned. With the library's search thread, the plan is
 * made there; the step's papers leave `staged` (a later change stages a paper again).
 */
async function planStep(
  s: JournalStep,
  { subs, firstSeen }: PassContext,
  library: PaperLibrary,
  now: Date,
  opts: MatchOptions,
): Promise<PlannedStep> {
  const loaded = await papersOf([...new Set(s.entries.flatMap(named))], library, opts.staged);
  const stored = new Set(loaded.map((p) => p.id));
  let { entries, newIds, updatedIds } = s;
  if (opts.onlyComplete) {
    const complete = entries.filter((e) => named(e).every((id) => stored.has(id)));
    if (complete.length < entries.length) {
      entries = complete;
      newIds = complete.flatMap((e) => e.newIds);
      updatedIds = complete.flatMap((e) => e.updatedIds.filter((id) => !firstSeen.has(id)));
    }
  }
  const wanted = new Set([...newIds, ...updatedIds]);
  const papers = loaded.filter((p) => wanted.has(p.id));
  const isNew = new Set(newIds);
  if (opts.staged) for (const e of entries) for (const id of named(e)) opts.staged.delete(id);
  if (subs.length === 0 || papers.length === 0) {
    library.add(papers);
    return { entries, papers: papers.length, stored, plan: undefined };
  }
  const plan = await library.plan(
    papers.map((paper) => ({ paper, kind: isNew.has(paper.id) ? 'new' : 'update' })),
    subs,
    now,
  );
  return { entries, papers: papers.length, stored, plan };
}

/**
 * Writes a planned step's deliveries to the outbox and lets its journal entries go (into
 * `unlisted`, when given, for the caller to remove once listed); adds to `out`.
 */
async function writeStep(
  store: Store,
  now: Date,
  s: PlannedStep,
  unlisted: UnlistedSteps | undefined,
  out: MatchReport,
): Promise<void> {
  out.papers += s.papers;
  if (s.plan) {
    out.matched += s.plan.count;
    // Papers first seen (or changed) in this pass: no delivery of theirs was planned before.
    const batch = hash64(s.entries.map((e) => e.id).join('\n'));
    if (!unlisted) out.enqueued += await store.outbox.enqueuePlan(s.plan, { fresh: true, batch });
    else {
      const written = await store.outbox.writePlan(s.plan, { batch });
      if (written) unlisted.records.push(written);
      out.enqueued += s.plan.count;
    }
  }
  // An entry naming papers not in the store yet may belong to a cycle still writing them
  // (another instance's): it stays until they are there, or until it is too old to be that.
  const done = s.entries.filter(
    (e) => now.getTime() - Date.parse(e.at) > UNWRITTEN_GRACE_MS || named(e).every((id) => s.stored.has(id)),
  );
  if (unlisted)
    for (const e of done) {
      unlisted.entries.add(e.id);
      unlisted.papers += e.newIds.length + e.updatedIds.length;
    }
  else if (done.length > 0) await store.journal.remove(done.map((e) => e.id));
}

/** Every paper an entry names, also changes left out as first seen in this pass. */
const named = (e: MatchJournalEntry) => [...e.newIds, ...e.updatedIds];

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
