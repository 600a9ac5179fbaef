/**
 * Delivery: the outbox's pending matches for one target become Discord messages, exactly once.
 *
 * The order of writes is what makes a crash harmless:
 *   1. the batch (the exact message body, its nonce and the delivery ids) is recorded;
 *   2. the message is sent with that nonce and `enforce_nonce`;
 *   3. the deliveries are marked sent, then the batch is closed.
 * A process killed between 1 and 3 finds the open batch at its next start and sends the same
 * body with the same nonce: Discord answers with the message it already created instead of a
 * second one. A process killed before 1 left only pending deliveries, which are packed again.
 *
 * Only the `DiscordPort` talks to Discord, so this module runs the same against discord.js,
 * a dry-run printer, or anything else that can send a message.
 */
import type { Logger } from 'pino';
import { sleepUnlessAborted } from '../core/abort.js';
import { digestHeader, moreNotice, packDigest } from '../core/message.js';
import { hash64, type Paper, type PaperId } from '../core/paper.js';
import type { Delivery, Target } from '../core/subscription.js';
import { targetKey } from '../core/subscription.js';
import { summarize } from '../core/summary.js';
import type { OutboxBatch, Store } from '../store/types.js';

/** What went wrong sending to Discord, in the terms delivery decides on. */
export type DeliveryErrorKind =
  /** 401: the token is wrong or revoked; nothing else will work. */
  | 'unauthorized'
  /** 403 (Missing Permissions / Missing Access / DMs closed) or 404 (Unknown Channel / User). */
  | 'refused'
  /** 400: Discord rejected the body; sending it again will not help. */
  | 'invalid'
  /** 5xx, timeouts, connection errors: worth retrying. */
  | 'transient';

export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    readonly kind: DeliveryErrorKind,
    message: string,
    readonly status?: number,
    readonly code?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A JSON message body for `POST /channels/:id/messages`. */
export type MessageBody = Record<string, unknown>;

/** The part of Discord delivery needs. Errors are {@link DeliveryError}s. */
export interface DiscordPort {
  /** Creates a message; returns its id. */
  send(channelId: string, body: MessageBody): Promise<{ id: string }>;
  /** The DM channel with a user. */
  openDm(userId: string): Promise<string>;
  /** Opens a thread from a message; returns the thread's channel id. */
  startThread(channelId: string, messageId: string, name: string): Promise<string>;
}

export interface DeliverOptions {
  store: Store;
  discord: DiscordPort;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Who claims the work in the coordinator (an instance id). */
  owner: string;
  now?: () => Date;
  /** A digest with more papers than this opens a thread. */
  threadThreshold: number;
  /** At most this many papers per digest; the rest are counted in a closing notice. */
  maxPerDigest: number;
  /** Attempts (with exponential backoff) for transient failures within one call. */
  retries: number;
  backoffBaseMs: number;
  /** How long a claim on a target lasts without renewal. */
  claimTtlMs?: number;
  /** Bad bodies are dropped after this many attempts. */
  maxAttempts?: number;
  /** Text of the "…and N more" notice: how to see the rest. */
  moreHint?: (queries: readonly string[]) => string;
  /** Called for each refused target (403/404) after its subscriptions were paused. */
  onPaused?: (target: Target, reason: string) => void;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Aborted when the service stops: no further message is sent, a post in flight is given up on
   * (the port aborts it with the same signal) and a wait between retries is cut short. Its
   * digest's batches stay open, and the next start sends them again with their nonces, so
   * nothing is lost and nothing posted twice; nothing counts as a failed attempt.
   */
  signal?: AbortSignal;
}

export interface TargetDeliveryReport {
  target: string;
  /** Messages created (header and notices included). */
  messages: number;
  /** Deliveries marked sent. */
  delivered: number;
  /** Deliveries counted in an "…and N more" notice instead of an embed. */
  summarized: number;
  /** Deliveries dropped (paper gone, body rejected). */
  dropped: number;
  /** Still pending after this call. */
  pending: number;
  /** `stopped`: the service stopped mid-digest; the rest goes out at the next start. */
  outcome: 'delivered' | 'nothing' | 'paused' | 'claimed-elsewhere' | 'failed' | 'stopped';
  error?: string;
}

/** Thrown inside a delivery run once its {@link DeliverOptions.signal} is aborted. */
class StoppedError extends Error {
  override readonly name = 'StoppedError';
}

/** Thrown when Discord says the token is invalid: the caller must stop the bot. */
export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
}

/**
 * Sends what is pending for `target`. Never throws for a delivery problem except a 401
 * ({@link UnauthorizedError}); everything else is in the report and in the outbox.
 */
export async function deliverTarget(
  target: Target,
  opts: DeliverOptions,
  force = false,
): Promise<TargetDeliveryReport> {
  const key = targetKey(target);
  const report: TargetDeliveryReport = {
    target: key,
    messages: 0,
    delivered: 0,
    summarized: 0,
    dropped: 0,
    pending: 0,
    outcome: 'nothing',
  };
  const { store } = opts;
  const now = opts.now ?? (() => new Date());
  const claimKey = `claim:target:${key}`;
  if (!(await store.coordination.acquire(claimKey, opts.owner, opts.claimTtlMs ?? 120_000))) {
    report.outcome = 'claimed-elsewhere';
    return report;
  }
  try {
    const subs = await store.subscriptions.listByTarget(key);
    const paused = subs.filter((s) => s.paused !== undefined);
    if (!force && subs.length > 0 && paused.length === subs.length) {
      report.outcome = 'paused';
      report.pending = (await store.outbox.pending(key)).length;
      return report;
    }
    const ctx = new Sender(target, opts, report);
    await ctx.finishOpenBatches();
    await ctx.sendPending(subs.map((s) => ({ id: s.id, query: s.query })));
    if (report.messages > 0 && paused.length > 0) {
      // A post went through: whatever refused us before has been fixed.
      for (const s of paused) await store.subscriptions.setPaused(s.id, undefined);
      opts.logger?.info(
        { target: key, resumed: paused.length },
        'posting works again: subscriptions resumed',
      );
    }
    if (report.outcome === 'nothing' && report.messages > 0) report.outcome = 'delivered';
  } catch (err) {
    if (err instanceof UnauthorizedError) throw err;
    if (err instanceof StoppedError) {
      report.outcome = 'stopped';
      opts.logger?.info(
        { target: key },
        'delivery stopped: the service is stopping; the rest goes out at the next start',
      );
    } else if (err instanceof DeliveryError && err.kind === 'refused') {
      const reason = `${err.message}${err.code ? ` (code ${err.code})` : ''}`;
      const at = now().toISOString();
      const subs = await store.subscriptions.listByTarget(key);
      for (const s of subs) {
        const pausedInfo: NonNullable<typeof s.paused> = { reason, at };
        if (err.code !== undefined) pausedInfo.code = err.code;
        await store.subscriptions.setPaused(s.id, pausedInfo);
      }
      opts.logger?.warn({ target: key, reason }, 'Discord refused the post: subscriptions paused');
      opts.onPaused?.(target, reason);
      report.outcome = 'paused';
      report.error = reason;
    } else {
      report.outcome = 'failed';
      report.error = err instanceof Error ? err.message : String(err);
      opts.logger?.warn({ target: key, err: report.error }, 'delivery failed; will retry next cycle');
    }
  } finally {
    await store.coordination.release(claimKey, opts.owner).catch(() => undefined);
  }
  report.pending = (await store.outbox.pending(key)).length;
  return report;
}

/** One target's delivery run: resolves the channel once and sends batches in order. */
class Sender {
  private channel: string | undefined;

  constructor(
    private readonly target: Target,
    private readonly opts: DeliverOptions,
    private readonly report: TargetDeliveryReport,
  ) {}

  private get key(): string {
    return targetKey(this.target);
  }

  private async baseChannel(): Promise<string> {
    if (this.channel === undefined) {
      this.channel =
        this.target.kind === 'channel'
          ? this.target.channelId
          : await this.withRetries(() =>
              this.opts.discord.openDm((this.target as { userId: string }).userId),
            );
    }
    return this.channel;
  }

  /** Re-sends batches a previous run recorded but did not finish (same body, same nonce). */
  async finishOpenBatches(): Promise<void> {
    const batches = await this.opts.store.outbox.openBatches(this.key);
    await this.sendAll(batches.sort(batchOrder));
  }

  /** Packs what is pending into messages and sends them. */
  async sendPending(subs: ReadonlyArray<{ id: string; query: string }>): Promise<void> {
    const plan = await planTargetDigest(this.target, subs, this.opts);
    if (plan.dropped.length > 0) {
      await this.opts.store.outbox.drop(plan.dropped, 'the paper is no longer in the store');
      this.report.dropped += plan.dropped.length;
    }
    if (plan.unsubscribed.length > 0) {
      await this.opts.store.outbox.drop(plan.unsubscribed, 'unsubscribed before it was posted');
      this.report.dropped += plan.unsubscribed.length;
    }
    if (plan.batches.length === 0) return;
    const channel = await this.baseChannel();
    const batches = plan.batches.map((b) => ({ ...b, channelId: channel }));
    // The whole digest is recorded before its first message: a restart continues it, in order.
    for (const b of batches) await this.opts.store.outbox.openBatch(b);
    await this.sendAll(batches);
  }

  private async sendAll(batches: readonly OutboxBatch[]): Promise<void> {
    const threads = new Map<string, string>();
    for (const batch of batches) {
      this.checkStopped();
      const deliveries = await this.opts.store.outbox.get(batch.deliveryIds);
      const unsent = batch.deliveryIds.filter((id) => deliveries.get(id)?.state === 'pending');
      if (batch.deliveryIds.length > 0 && unsent.length === 0) {
        await this.opts.store.outbox.closeBatch(batch.id);
        continue;
      }
      const thread = threads.get(digestOf(batch.id));
      const next = await this.sendBatch(thread === undefined ? batch : { ...batch, channelId: thread });
      if (batch.threadName !== undefined) threads.set(digestOf(batch.id), next);
    }
  }

  /**
   * Sends one recorded batch and completes it. Returns the channel the rest of its digest goes
   * to (the thread a header opened, else the batch's channel).
   */
  private async sendBatch(batch: OutboxBatch): Promise<string> {
    const { store } = this.opts;
    const channel = batch.channelId ?? (await this.baseChannel());
    const body = { ...(batch.body as MessageBody), nonce: batch.nonce, enforce_nonce: true };
    let sent: { id: string };
    try {
      sent = await this.withRetries(() => this.opts.discord.send(channel, body));
    } catch (err) {
      // Given up on for the stop, not failed: the open batch is sent again, same nonce.
      if (err instanceof StoppedError) throw err;
      if (err instanceof DeliveryError && err.kind === 'refused') {
        // Nothing of this digest can be posted: forget its batches so the deliveries are
        // packed afresh once the channel works again.
        for (const open of await store.outbox.openBatches(this.key)) {
          if (digestOf(open.id) === digestOf(batch.id)) await store.outbox.closeBatch(open.id);
        }
        throw err;
      }
      if (err instanceof DeliveryError && err.kind === 'invalid') {
        await store.outbox.closeBatch(batch.id);
        await this.recordInvalid(batch, err);
        return channel;
      }
      if (batch.deliveryIds.length > 0) await store.outbox.recordFailure(batch.deliveryIds, describe(err));
      throw err;
    }
    this.report.messages++;
    let next = channel;
    if (batch.threadName !== undefined) {
      next = await this.withRetries(() =>
        this.opts.discord.startThread(channel, sent.id, batch.threadName as string),
      );
      // The rest of this digest goes to the thread, also after a restart.
      for (const open of await store.outbox.openBatches(this.key)) {
        if (open.id !== batch.id && digestOf(open.id) === digestOf(batch.id)) {
          await store.outbox.openBatch({ ...open, channelId: next });
        }
      }
    }
    if (batch.deliveryIds.length > 0) {
      if (batch.summarizes) {
        await store.outbox.drop(batch.deliveryIds, 'over the digest cap: counted in an "and N more" notice');
        this.report.summarized += batch.deliveryIds.length;
      } else {
        await store.outbox.markSent(batch.deliveryIds, {
          messageId: sent.id,
          sentAt: (this.opts.now?.() ?? new Date()).toISOString(),
        });
        this.report.delivered += batch.deliveryIds.length;
      }
    }
    await store.outbox.closeBatch(batch.id);
    return next;
  }

  private async recordInvalid(batch: OutboxBatch, err: DeliveryError): Promise<void> {
    const { store } = this.opts;
    if (batch.deliveryIds.length === 0) return;
    await store.outbox.recordFailure(batch.deliveryIds, describe(err));
    const current = await store.outbox.get(batch.deliveryIds);
    const exhausted = batch.deliveryIds.filter(
      (id) => (current.get(id)?.attempts ?? 0) >= (this.opts.maxAttempts ?? 3),
    );
    if (exhausted.length > 0) {
      await store.outbox.drop(exhausted, `Discord rejected the message: ${err.message}`);
      this.report.dropped += exhausted.length;
    }
    this.opts.logger?.error({ target: this.key, err: err.message }, 'Discord rejected a digest message');
  }

  private checkStopped(): void {
    if (this.opts.signal?.aborted) throw new StoppedError('the service is stopping');
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    const { signal, sleep } = this.opts;
    for (let attempt = 0; ; attempt++) {
      this.checkStopped();
      try {
        return await fn();
      } catch (err) {
        // Whatever the aborted call threw, it was the stop.
        this.checkStopped();
        if (err instanceof DeliveryError && err.kind === 'unauthorized') {
          throw new UnauthorizedError(`Discord rejected the bot token (401): ${err.message}`, { cause: err });
        }
        const transient = !(err instanceof DeliveryError) || err.kind === 'transient';
        if (!transient || attempt >= this.opts.retries) throw err;
        const delay = this.opts.backoffBaseMs * 2 ** attempt;
        await sleepUnlessAborted(delay / 2 + Math.random() * (delay / 2), signal, sleep);
      }
    }
  }
}

/** The messages a target's pending deliveries become, in sending order. */
export interface DigestPlan {
  /** Header (when threaded), then the digest messages, then the "…and N more" notice. */
  batches: OutboxBatch[];
  /** Deliveries whose paper is gone from the store. */
  dropped: string[];
  /** Deliveries none of whose subscriptions exists any more (unsubscribed before posting). */
  unsubscribed: string[];
  /** Matched papers, before the cap. */
  total: number;
  papers: Map<PaperId, Paper>;
}

/**
 * Plans the digest for what is pending for `target` and not already in an open batch. Reads
 * only; `deliverTarget` records and sends the batches, `once --dry-run` prints them.
 */
export async function planTargetDigest(
  target: Target,
  subs: ReadonlyArray<{ id: string; query: string }>,
  opts: Pick<DeliverOptions, 'store' | 'now' | 'threadThreshold' | 'maxPerDigest' | 'moreHint'>,
): Promise<DigestPlan> {
  const { store } = opts;
  const key = targetKey(target);
  const inBatches = new Set<string>();
  for (const b of await store.outbox.openBatches(key)) for (const id of b.deliveryIds) inBatches.add(id);
  const pending = (await store.outbox.pending(key)).filter((d) => !inBatches.has(d.id));
  const plan: DigestPlan = { batches: [], dropped: [], unsubscribed: [], total: 0, papers: new Map() };
  if (pending.length === 0) return plan;
  pending.sort(
    (a, b) => b.score - a.score || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
  );
  const papers = await store.papers.getMany([...new Set(pending.map((d) => d.paperId))]);
  plan.papers = papers;
  plan.dropped = pending.filter((d) => !papers.has(d.paperId)).map((d) => d.id);
  const live = new Set(subs.map((s) => s.id));
  plan.unsubscribed = pending
    .filter((d) => papers.has(d.paperId) && !d.subscriptionIds.some((id) => live.has(id)))
    .map((d) => d.id);
  const gone = new Set(plan.unsubscribed);
  const ready = pending.filter((d) => papers.has(d.paperId) && !gone.has(d.id));
  plan.total = ready.length;
  if (ready.length === 0) return plan;
  const shown = ready.slice(0, opts.maxPerDigest);
  const rest = ready.slice(opts.maxPerDigest);
  const queryOf = new Map(subs.map((s) => [s.id, s.query]));
  const items = shown.map((d) => digestItem(d, papers.get(d.paperId) as Paper, queryOf));
  const queries = [
    ...new Set(shown.flatMap((d) => d.subscriptionIds.map((id) => queryOf.get(id) ?? ''))),
  ].filter((q) => q !== '');
  const nowDate = opts.now?.() ?? new Date();
  const meta = {
    title: queries.length === 1 ? (queries[0] as string) : 'your subscriptions',
    date: nowDate.toISOString().slice(0, 10),
  };
  const packed = packDigest(items, meta);
  const createdAt = nowDate.toISOString();
  const digestKey = hash64(`${key}\n${shown.map((d) => d.id).join('\n')}`);
  if (target.kind === 'channel' && ready.length > opts.threadThreshold) {
    const header = digestHeader(meta, ready.length);
    plan.batches.push({
      id: `${digestKey}:header`,
      targetKey: key,
      deliveryIds: [],
      nonce: nonceFor(`${digestKey}:header`),
      createdAt,
      seq: 0,
      body: { content: header.content, allowed_mentions: { parse: [] } },
      threadName: header.threadName,
    });
  }
  for (const [i, p] of packed.entries()) {
    plan.batches.push({
      id: `${digestKey}:${i}`,
      targetKey: key,
      deliveryIds: p.itemIndexes.map((j) => (shown[j] as Delivery).id),
      nonce: nonceFor(`${digestKey}:${i}`),
      createdAt,
      seq: i + 1,
      body: p.body as MessageBody,
    });
  }
  if (rest.length > 0) {
    const hint = opts.moreHint?.(queries) ?? '/paper search';
    plan.batches.push({
      id: `${digestKey}:more`,
      targetKey: key,
      deliveryIds: rest.map((d) => d.id),
      nonce: nonceFor(`${digestKey}:more`),
      createdAt,
      seq: packed.length + 1,
      body: { content: moreNotice(rest.length, hint), allowed_mentions: { parse: [] } },
      summarizes: true,
    });
  }
  return plan;
}

/** The digest a batch belongs to: its id up to the last colon. */
function digestOf(batchId: string): string {
  return batchId.slice(0, batchId.lastIndexOf(':'));
}

/** Sending order: digests in the order they were planned, each in its own sequence. */
function batchOrder(a: OutboxBatch, b: OutboxBatch): number {
  return (
    a.createdAt.localeCompare(b.createdAt) || digestOf(a.id).localeCompare(digestOf(b.id)) || a.seq - b.seq
  );
}

/** A stable nonce of at most 25 characters (Discord's limit). */
export function nonceFor(key: string): string {
  return `pb${hash64(key)}`;
}

function digestItem(d: Delivery, paper: Paper, queryOf: ReadonlyMap<string, string>) {
  return {
    paper,
    tldr: summarize(paper.abstract),
    terms: d.terms,
    subscriptionQueries: d.subscriptionIds
      .map((id) => queryOf.get(id))
      .filter((q): q is string => q !== undefined),
    kind: d.kind,
  };
}

function describe(err: unknown): string {
  if (err instanceof DeliveryError) {
    return `${err.message}${err.status ? ` (HTTP ${err.status}${err.code ? `, code ${err.code}` : ''})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Paper ids in a list of deliveries, unique, in order. */
export function paperIdsOf(deliveries: readonly Delivery[]): PaperId[] {
  return [...new Set(deliveries.map((d) => d.paperId))];
}
