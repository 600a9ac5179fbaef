import type { Paper, PaperId } from '../core/paper.js';

/**
 * Papers and the aliases they are found under (`arxiv:<id>`, `fp:<fingerprint hash>`).
 * Every method takes and returns batches: the pipeline never awaits one key at a time.
 */
export interface PaperStore {
  /** Alias key → paper id, for the keys that are known. */
  resolve(keys: readonly string[]): Promise<Map<string, PaperId>>;
  /** Papers by id, for the ids that are known. */
  getMany(ids: readonly PaperId[]): Promise<Map<PaperId, Paper>>;
  /** Writes papers and aliases in batches (one transaction per batch where the backend has them). */
  putMany(papers: readonly Paper[], aliases: ReadonlyMap<string, PaperId>): Promise<void>;
  /** Every stored paper, in no particular order, streamed in batches. */
  iterate(): AsyncIterable<Paper>;
  count(): Promise<number>;
}

/** What paperboy remembers about one source between cycles. */
export interface SourceState {
  /** Conditional GET validators from the last 200 response. */
  etag?: string;
  lastModified?: string;
  /** Content hash of each digest file already ingested (path → sha256), for directory sources. */
  fileHashes?: Record<string, string>;
  consecutiveFailures: number;
  lastError?: string;
  lastErrorAt?: string;
  lastSuccessAt?: string;
  /** Set once `consecutiveFailures` reaches the failing threshold. */
  failingSince?: string;
  /** The source is skipped by cycles before this time (backoff while failing). */
  nextAttemptAt?: string;
  /** Newest entry date seen, for staleness detection. */
  newestEntryAt?: string;
}

export interface SourceStateStore {
  get(name: string): Promise<SourceState | undefined>;
  getAll(): Promise<Map<string, SourceState>>;
  set(name: string, state: SourceState): Promise<void>;
}

/** The opened store: the role-named stores plus the lifecycle of the connection behind them. */
export interface Store {
  readonly url: string;
  readonly papers: PaperStore;
  readonly sources: SourceStateStore;
  /** Round-trips the backend; throws when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
