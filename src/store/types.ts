import type { Paper, PaperId } from '../core/paper.js';
import type { Delivery, DeliveryPlan, Subscription, TargetSettings } from '../core/subscription.js';

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

/** Subscriptions by id; two subscriptions with the same target and query share an id. */
export interface SubscriptionStore {
  put(sub: Subscription): Promise<void>;
  get(id: string): Promise<Subscription | undefined>;
  /** True when it existed. */
  remove(id: string): Promise<boolean>;
  list(): Promise<Subscription[]>;
  listByTarget(targetKey: string): Promise<Subscription[]>;
  setPaused(id: string, paused: Subscription['paused'] | undefined): Promise<void>;
}

/** Delivery settings per target (`channel:<id>` / `user:<id>`). */
export interface TargetSettingsStore {
  get(targetKey: string): Promise<TargetSettings | undefined>;
  set(settings: TargetSettings): Promise<void>;
  list(): Promise<TargetSettings[]>;
}

/** One message's worth of deliveries, recorded before the message is sent. */
export interface OutboxBatch {
  id: string;
  targetKey: string;
  deliveryIds: string[];
  /** Sent with `enforce_nonce`: a resend after a crash returns the first message. */
  nonce: string;
  createdAt: string;
  /** Order inside its digest (header 0, messages 1…, notice last). */
  seq: number;
  channelId?: string;
  /** The exact message body. */
  body: unknown;
  /** A header that opens a thread for the rest of its digest. */
  threadName?: string;
  /** A notice counting deliveries instead of showing them. */
  summarizes?: boolean;
}

export interface OutboxStats {
  pending: number;
  sent: number;
  /** Deliveries given up on (paper gone, body refused, over the digest cap). */
  failed: number;
}

/** A call's records, written by `OutboxStore.writePlan` and not listed yet. */
export interface UnlistedRecords {
  call: string;
  /** Each target written, and how many deliveries its record holds. */
  targets: Array<[key: string, n: number]>;
}

export interface EnqueueOptions {
  fresh?: boolean;
  batch?: string;
}

export interface OutboxStore {
  /**
   * Adds deliveries whose id is neither pending nor settled; returns the ids added.
   * `fresh`: the caller knows none of the ids was planned before (matches of papers first seen in
   * this pass, each once), so the check is skipped. `batch`: a stable key for this call: the same call again
   * (a replay after a crash) replaces its own records instead of adding to them.
   */
  enqueue(deliveries: readonly Delivery[], opts?: EnqueueOptions): Promise<string[]>;
  /**
   * {@link enqueue} for a plan, kept in its compact form when `fresh` (the cycle's path: a step
   * plans ~50k deliveries); returns how many were added.
   */
  enqueuePlan(plan: DeliveryPlan, opts?: EnqueueOptions): Promise<number>;
  /**
   * The records of a fresh plan ({@link enqueuePlan} with `fresh`), written but not listed:
   * readers see them once {@link list} names them in their targets' indexes. Listing rewrites
   * each target's index (a 100k-paper cycle's 50 steps wrote ~2000 of them each), so a cycle
   * lists many steps at once. A crash in between leaves records no reader sees, and a plan
   * written again under the same `batch` replaces its own. Undefined when the plan is empty.
   */
  writePlan(plan: DeliveryPlan, opts?: { batch?: string }): Promise<UnlistedRecords | undefined>;
  /** Lists what {@link writePlan} wrote; listing a call again changes nothing. */
  list(written: readonly UnlistedRecords[]): Promise<void>;
  /**
   * Deletes records {@link writePlan} wrote and no {@link list} listed, planned more than
   * `olderThanMs` before `now`: what a pass killed between the two left behind. Its replay plans
   * those deliveries again from the match journal, under keys of its own, so nothing reads
   * them. Returns how many went. A pass still running must list what it wrote within
   * `olderThanMs`, or what it lists later names records that are gone: give it hours, not
   * minutes.
   */
  sweepUnlisted(opts: { olderThanMs: number; now?: Date }): Promise<number>;
  pending(targetKey?: string): Promise<Delivery[]>;
  /** Target keys with something pending, without reading the deliveries. */
  pendingTargets(): Promise<string[]>;
  get(ids: readonly string[]): Promise<Map<string, Delivery>>;
  markSent(ids: readonly string[], info: { messageId: string; sentAt: string }): Promise<void>;
  recordFailure(ids: readonly string[], error: string): Promise<void>;
  drop(ids: readonly string[], reason: string): Promise<void>;
  openBatch(batch: OutboxBatch): Promise<void>;
  openBatches(targetKey?: string): Promise<OutboxBatch[]>;
  closeBatch(id: string): Promise<void>;
  /**
   * Counts. `pending` is exact by default (every live queue record is read); with
   * `{ exact: false }` it is the planned size of the live records, read from the per-target
   * index alone: exact once each delivery run has pruned what it settled, an overcount of the
   * deliveries settled since (a cheap figure for a per-cycle gauge).
   */
  stats(opts?: { exact?: boolean }): Promise<OutboxStats>;
}

/** Papers stored as new or updated whose matches are not in the outbox yet. */
export interface MatchJournalEntry {
  id: string;
  newIds: PaperId[];
  updatedIds: PaperId[];
  /** ISO-8601 time the papers were stored. */
  at: string;
}

/**
 * Written before the papers it names are stored, removed once their matches are in the
 * outbox: a process killed in between leaves the entry for the next cycle to match, so a
 * paper is never stored as known without its matches being planned.
 */
export interface MatchJournal {
  add(entry: MatchJournalEntry): Promise<void>;
  /** Oldest first. */
  list(): Promise<MatchJournalEntry[]>;
  remove(ids: readonly string[]): Promise<void>;
}

/** Atomic leases shared by every process on the same store. */
export interface Coordinator {
  /** Takes `key` if it is free, expired or already `owner`'s (then renews it). */
  acquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives `key` up, only if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
  holder(key: string): Promise<string | undefined>;
}

/** The opened store: the role-named stores plus the lifecycle of the connection behind them. */
export interface Store {
  readonly url: string;
  readonly papers: PaperStore;
  readonly sources: SourceStateStore;
  readonly subscriptions: SubscriptionStore;
  readonly targets: TargetSettingsStore;
  readonly outbox: OutboxStore;
  readonly journal: MatchJournal;
  readonly coordination: Coordinator;
  /** Round-trips the backend; throws when it is unreachable. */
  ping(): Promise<void>;
  /**
   * Deletes settled deliveries past their retention where the backend keeps expired entries
   * until read (SQLite, Postgres; Redis expires them itself); how many.
   */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}
