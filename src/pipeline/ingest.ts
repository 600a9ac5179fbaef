/**
 * One ingest pass: read every source, identify each sighting against the store, write new
 * papers, updates and aliases in batches, and remember each source's state.
 *
 * Sources are read concurrently (the fetcher keeps per-host politeness) but merged one at a
 * time, so a paper arriving through two sources in the same pass is new exactly once. A source
 * that fails is reported and the pass goes on.
 */
import { decodeBody } from '../core/charset.js';
import { parseFeed } from '../core/feed.js';
import { chooseTarget, createPaper, mergeSighting, newAliases } from '../core/merge.js';
import { identityKeys, type Paper, type PaperId, type PaperSighting } from '../core/paper.js';
import { readDigestSource } from '../sources/digest-inbox.js';
import type { Fetcher } from '../sources/http.js';
import type { SourceState, Store } from '../store/types.js';

export type SourceSpec =
  | { name: string; type: 'digest'; path: string }
  | { name: string; type: 'feed'; url: string };

/** `stopped`: the service stopped before the source was read, or part way through it (see `IngestOptions.signal`). */
export type SourceStatus =
  | 'ok'
  | 'unchanged'
  | 'not-modified'
  | 'no-announcement'
  | 'failed'
  | 'backing-off'
  | 'stopped';

export interface Counts {
  parsed: number;
  new: number;
  updated: number;
  duplicates: number;
}

export interface SourceReport extends Counts {
  source: string;
  status: SourceStatus;
  /** Files or URLs read, with what became of each (digest directories list every file). */
  details: string[];
  error?: string;
  /** Set when the source has failed `failingAfter` cycles in a row. */
  failingSince?: string;
  consecutiveFailures: number;
}

export interface IngestReport extends Counts {
  sources: SourceReport[];
  failedSources: Array<{ source: string; error: string }>;
  /** Ids of the papers first stored in this pass, in order. */
  newPaperIds: PaperId[];
  /** Ids of known papers that got a new version or abstract in this pass (each once). */
  updatedPaperIds: PaperId[];
  startedAt: string;
  durationMs: number;
}

export interface IngestOptions {
  store: Store;
  /** Needed when any source is a feed. */
  fetcher?: Fetcher;
  now?: () => Date;
  failingAfter: number;
  failingBackoffMinutes: number;
  failingBackoffMaxMinutes: number;
  concurrency: number;
  /** Re-parse digest files even when their content hash is known. */
  force?: boolean;
  /** Papers merged per store round trip. */
  batchSize?: number;
  /** Record new and updated papers in the match journal before storing them (a cycle does). */
  journal?: boolean;
  /** Called with each batch of papers written, as written (a cycle matches them next). */
  onStored?: (papers: readonly Paper[]) => void;
  /** Called once a unit's papers (a feed, a digest file) are stored, and journaled. */
  onMerged?: () => Promise<void> | undefined;
  onProgress?: (message: string) => void;
  /**
   * Aborted when the service stops: no further source is read and no further unit (a feed, a
   * digest file) merged. A source cut short keeps its old state, so it is read again in full
   * next time (what was merged of it then counts as duplicates); what was merged is stored and
   * journaled, so its matches are planned by the next cycle.
   */
  signal?: AbortSignal;
}

interface Unit {
  label: string;
  papers: PaperSighting[];
}

/** What reading one source produced, before anything is merged. */
interface SourceRead {
  status: SourceStatus;
  units: Unit[];
  details: string[];
  /** Per-file problems in a directory source that was otherwise read. */
  problems: Array<{ source: string; error: string }>;
  /** State to record once the units are merged. */
  next: (prev: SourceState) => SourceState;
}

/**
 * Papers merged per store round trip (one transaction on SQLite). 2000, a busy arXiv category's
 * day in one: each commit rewrites the index pages its keys touch (the title fingerprints' are
 * random), and the full cycle bench ran 6% faster, on ~20% fewer bytes written, than with 1000.
 */
export const MERGE_BATCH = 2000;

/** Runs one ingest pass over `sources`. Never throws for a source's failure. */
export async function ingest(sources: readonly SourceSpec[], opts: IngestOptions): Promise<IngestReport> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const report: IngestReport = {
    parsed: 0,
    new: 0,
    updated: 0,
    duplicates: 0,
    sources: [],
    failedSources: [],
    newPaperIds: [],
    updatedPaperIds: [],
    startedAt: started.toISOString(),
    durationMs: 0,
  };
  const states = await opts.store.sources.getAll();
  let mergeTail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = mergeTail.then(fn);
    mergeTail = run.catch(() => undefined);
    return run;
  };

  const runOne = async (spec: SourceSpec): Promise<SourceReport> => {
    const prev: SourceState = states.get(spec.name) ?? { consecutiveFailures: 0 };
    const base: SourceReport = {
      source: spec.name,
      status: 'ok',
      parsed: 0,
      new: 0,
      updated: 0,
      duplicates: 0,
      details: [],
      consecutiveFailures: prev.consecutiveFailures,
    };
    if (prev.failingSince !== undefined) base.failingSince = prev.failingSince;
    if (prev.nextAttemptAt !== undefined && Date.parse(prev.nextAttemptAt) > now().getTime()) {
      return {
        ...base,
        status: 'backing-off',
        error: `failing since ${prev.failingSince ?? '?'} (${prev.consecutiveFailures} failures in a row), next attempt after ${prev.nextAttemptAt}: ${prev.lastError ?? 'unknown error'}`,
      };
    }
    if (opts.signal?.aborted) return { ...base, status: 'stopped' };
    let read: SourceRead;
    try {
      read = await readSource(spec, prev, opts, now);
    } catch (err) {
      // A fetch the stop cut short says nothing about the source.
      if (opts.signal?.aborted) return { ...base, status: 'stopped' };
      const error = describeError(err);
      const state = failedState(prev, error, now(), opts);
      await opts.store.sources.set(spec.name, state);
      const failed: SourceReport = {
        ...base,
        status: 'failed',
        error,
        consecutiveFailures: state.consecutiveFailures,
      };
      if (state.failingSince !== undefined) failed.failingSince = state.failingSince;
      return failed;
    }
    return exclusive(async () => {
      const counts: Counts = { parsed: 0, new: 0, updated: 0, duplicates: 0 };
      for (const unit of read.units) {
        if (opts.signal?.aborted) return { ...base, ...counts, status: 'stopped', details: read.details };
        opts.onProgress?.(`${spec.name}: merging ${unit.papers.length} papers from ${unit.label}`);
        const c = await mergeSightings(opts.store, unit.papers, spec.name, now().toISOString(), {
          batchSize: opts.batchSize ?? MERGE_BATCH,
          newIds: report.newPaperIds,
          updatedIds: report.updatedPaperIds,
          ...(opts.journal ? { journal: true } : {}),
          ...(opts.onStored ? { onStored: opts.onStored } : {}),
        });
        addCounts(counts, c);
        await opts.onMerged?.();
      }
      const state = read.next({ ...prev, consecutiveFailures: 0, lastSuccessAt: now().toISOString() });
      delete state.failingSince;
      delete state.nextAttemptAt;
      await opts.store.sources.set(spec.name, state);
      report.failedSources.push(...read.problems);
      return { ...base, ...counts, status: read.status, details: read.details, consecutiveFailures: 0 };
    });
  };

  const results = await mapLimit(sources, opts.concurrency, runOne);
  for (const r of results) {
    report.sources.push(r);
    addCounts(report, r);
    if (r.error !== undefined) report.failedSources.push({ source: r.source, error: r.error });
  }
  report.durationMs = Math.round(performance.now() - t0);
  return report;
}

async function readSource(
  spec: SourceSpec,
  prev: SourceState,
  opts: IngestOptions,
  now: () => Date,
): Promise<SourceRead> {
  if (spec.type === 'digest') {
    const known = prev.fileHashes ?? {};
    const files = await readDigestSource(spec.path, known, { force: opts.force ?? false });
    const parsed = files.filter((f) => f.status === 'parsed');
    const failed = files.filter((f) => f.status === 'failed');
    if (files.length === 0) throw new Error(`${spec.path}: no files to read`);
    if (parsed.length === 0 && failed.length === files.length) {
      throw new Error(failed.map((f) => f.error).join('; '));
    }
    return {
      status: parsed.length === 0 && failed.length === 0 ? 'unchanged' : 'ok',
      units: parsed.map((f) => ({ label: f.file, papers: f.papers })),
      details: files.map((f) =>
        f.status === 'parsed'
          ? `${f.file}: ${f.papers.length} papers${f.date ? ` (digest of ${f.date})` : ''}`
          : f.status === 'unchanged'
            ? `${f.file}: unchanged since last ingest, skipped`
            : `${f.file}: ${f.error ?? 'failed'}`,
      ),
      problems: failed.map((f) => ({ source: `${spec.name}: ${f.file}`, error: f.error ?? 'failed' })),
      next: (state) => {
        // Only files that parsed are remembered: a broken file is reported again until fixed.
        const hashes: Record<string, string> = {};
        for (const f of files) if (f.status !== 'failed') hashes[f.file] = f.hash;
        return { ...state, fileHashes: hashes };
      },
    };
  }
  if (!opts.fetcher) throw new Error('no HTTP fetcher configured for feed sources');
  const url = spec.url.replaceAll('{date}', now().toISOString().slice(0, 10));
  const validators: { etag?: string; lastModified?: string } = {};
  if (prev.etag !== undefined) validators.etag = prev.etag;
  if (prev.lastModified !== undefined) validators.lastModified = prev.lastModified;
  const fetched = await opts.fetcher.fetch(url, validators);
  if (fetched.status === 'not-modified') {
    return {
      status: 'not-modified',
      units: [],
      details: [`${url}: 304 not modified`],
      problems: [],
      next: (s) => s,
    };
  }
  const text = decodeBody(fetched.body, fetched.contentType);
  const parsed = await parseFeed(text, { sourceName: spec.name });
  if (!parsed.ok) throw new Error(`${url}: ${parsed.error}`);
  const withValidators = (s: SourceState): SourceState => {
    const next: SourceState = { ...s };
    delete next.etag;
    delete next.lastModified;
    if (fetched.validators.etag !== undefined) next.etag = fetched.validators.etag;
    if (fetched.validators.lastModified !== undefined) next.lastModified = fetched.validators.lastModified;
    const newest = newestDate(parsed.papers);
    if (newest !== undefined) next.newestEntryAt = newest;
    return next;
  };
  return {
    status: parsed.status === 'no-announcement' ? 'no-announcement' : 'ok',
    units: [{ label: url, papers: parsed.papers }],
    details: [
      parsed.status === 'no-announcement'
        ? `${url}: feed is empty: no announcement today (weekend or holiday)`
        : `${url}: ${parsed.papers.length} entries`,
    ],
    problems: [],
    next: withValidators,
  };
}

/**
 * Identifies and stores sightings in batches: one `resolve`, one `getMany` and one `putMany`
 * per batch. Within a batch, papers and aliases created by earlier sightings are visible to
 * later ones, so repeats inside one source are duplicates, not new papers.
 */
export async function mergeSightings(
  store: Store,
  sightings: readonly PaperSighting[],
  source: string,
  now: string,
  opts: {
    batchSize: number;
    newIds?: PaperId[];
    updatedIds?: PaperId[];
    journal?: boolean;
    onStored?: (papers: readonly Paper[]) => void;
  },
): Promise<Counts> {
  const counts: Counts = { parsed: sightings.length, new: 0, updated: 0, duplicates: 0 };
  const updatedBefore = new Set(opts.updatedIds);
  for (let start = 0; start < sightings.length; start += opts.batchSize) {
    const batch = sightings.slice(start, start + opts.batchSize);
    const keyLists = batch.map((s) => identityKeys(s));
    const keys = new Set<string>();
    for (const list of keyLists) for (const k of list) keys.add(k);
    const resolved = await store.papers.resolve([...keys]);
    const papers = new Map<PaperId, Paper>(await store.papers.getMany([...new Set(resolved.values())]));
    const dirty = new Map<PaperId, Paper>();
    const aliases = new Map<string, PaperId>();
    const batchNew: PaperId[] = [];
    const batchUpdated: PaperId[] = [];
    for (const [i, s] of batch.entries()) {
      const sKeys = keyLists[i] ?? [];
      const target = chooseTarget(s, resolved, papers, sKeys);
      const existing = target === undefined ? undefined : papers.get(target);
      let paper: Paper;
      if (existing === undefined) {
        paper = createPaper(s, source, now);
        // An alias left pointing at a lost record keeps its id, so nothing else moves.
        if (target !== undefined) paper.id = target;
        counts.new++;
        batchNew.push(paper.id);
        dirty.set(paper.id, paper);
      } else {
        const merged = mergeSighting(existing, s, source, now);
        paper = merged.paper;
        if (merged.outcome === 'updated') {
          counts.updated++;
          if (!updatedBefore.has(paper.id)) {
            updatedBefore.add(paper.id);
            batchUpdated.push(paper.id);
          }
        } else counts.duplicates++;
        if (merged.changed) dirty.set(paper.id, paper);
      }
      papers.set(paper.id, paper);
      for (const [k, id] of newAliases(paper, s, resolved, sKeys)) {
        resolved.set(k, id);
        aliases.set(k, id);
      }
    }
    if (opts.journal && batchNew.length + batchUpdated.length > 0) {
      // Before the papers: once they are stored they are known, and only this entry says their
      // matches are still to be planned.
      await store.journal.add({
        id: `${now}.${Math.random().toString(36).slice(2, 10)}`,
        newIds: batchNew,
        updatedIds: batchUpdated,
        at: now,
      });
    }
    if (dirty.size > 0 || aliases.size > 0) await store.papers.putMany([...dirty.values()], aliases);
    if (dirty.size > 0) opts.onStored?.([...dirty.values()]);
    opts.newIds?.push(...batchNew);
    opts.updatedIds?.push(...batchUpdated);
  }
  return counts;
}

function failedState(prev: SourceState, error: string, at: Date, opts: IngestOptions): SourceState {
  const failures = prev.consecutiveFailures + 1;
  const state: SourceState = {
    ...prev,
    consecutiveFailures: failures,
    lastError: error,
    lastErrorAt: at.toISOString(),
  };
  if (failures >= opts.failingAfter) {
    state.failingSince = prev.failingSince ?? at.toISOString();
    const minutes = Math.min(
      opts.failingBackoffMinutes * 2 ** (failures - opts.failingAfter),
      opts.failingBackoffMaxMinutes,
    );
    state.nextAttemptAt = new Date(at.getTime() + minutes * 60_000).toISOString();
  }
  return state;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return `${(err as NodeJS.ErrnoException).path ?? 'path'}: no such file or directory`;
    if (code === 'EACCES') return `${(err as NodeJS.ErrnoException).path ?? 'path'}: permission denied`;
    return err.message;
  }
  return String(err);
}

function newestDate(papers: readonly PaperSighting[]): string | undefined {
  let best: string | undefined;
  for (const p of papers) {
    if (p.published !== undefined && (best === undefined || p.published > best)) best = p.published;
  }
  return best;
}

function addCounts(into: Counts, c: Counts): void {
  into.parsed += c.parsed;
  into.new += c.new;
  into.updated += c.updated;
  into.duplicates += c.duplicates;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
