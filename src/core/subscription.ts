/**
 * Subscriptions, delivery targets and outbox deliveries: the records that connect a query to a
 * Discord channel or person. Pure data and pure helpers; the stores live in `src/store/`.
 */
import type { PaperId } from './paper.js';
import { hash64 } from './paper.js';

/** Where posts go: a channel in a guild, or a user by DM. */
export type Target =
  | { kind: 'channel'; channelId: string; guildId?: string }
  | { kind: 'user'; userId: string };

/** How a target receives its matches: after every cycle, or once a day at a local time. */
export type DeliveryMode = 'immediate' | 'daily';

/** A saved filter: "tell this target about new papers that match this query". */
export interface Subscription {
  /** Stable id derived from target + normalised query: two equal subscriptions are one. */
  id: string;
  target: Target;
  /** The query as the person wrote it (trimmed). */
  query: string;
  /** Discord user id (or `cli`) of whoever created it. */
  createdBy: string;
  /** ISO-8601. */
  createdAt: string;
  mode: DeliveryMode;
  /** Post again when a known paper gets a new version or abstract. Off by default. */
  notifyUpdates: boolean;
  /**
   * The first digest also includes matching papers first seen this many hours before the
   * subscription was created (0: none). Cleared once that backfill has been planned.
   */
  backfillHours: number;
  /** Set when Discord refused posts (403/404): kept, not deleted, until a post succeeds or an admin resumes it. */
  paused?: { reason: string; at: string; code?: number };
}

/** Per-target delivery settings, set with `/digest schedule`. */
export interface TargetSettings {
  target: Target;
  mode: DeliveryMode;
  /** `HH:MM`, local to `timezone`, for daily delivery. */
  time: string;
  /** IANA timezone, e.g. `Europe/Berlin`. */
  timezone: string;
  /** ISO-8601 time of the last daily digest sent (for "missed while down" detection). */
  lastDigestAt?: string;
}

/** One paper to post to one target, waiting in the outbox until Discord accepted it. */
export interface Delivery {
  /** `targetKey(target) + ':' + paperId` — a paper is delivered to a target at most once (per update). */
  id: string;
  target: Target;
  paperId: PaperId;
  /** Subscriptions of this target that matched, best first. */
  subscriptionIds: string[];
  /** Best score over the matching subscriptions (ranking inside a digest). */
  score: number;
  /** Matched words to highlight in the post. */
  terms: string[];
  /** `new` for a first post, `update` when a followed paper changed. */
  kind: 'new' | 'update';
  /** ISO-8601 time the match was planned. */
  createdAt: string;
  state: 'pending' | 'sent' | 'dropped';
  attempts: number;
  lastError?: string;
  /** Set when sent: Discord message id and time. */
  messageId?: string;
  sentAt?: string;
}

/** A stable string for a target, used in keys and ids: `channel:<id>` or `user:<id>`. */
export function targetKey(target: Target): string {
  return target.kind === 'channel' ? `channel:${target.channelId}` : `user:${target.userId}`;
}

/** Parses `channel:<id>` or `user:<id>` (the CLI's target syntax); undefined when malformed. */
export function parseTarget(text: string): Target | undefined {
  const m = /^(channel|user):(\d{1,25}|[A-Za-z0-9_-]{1,64})$/.exec(text.trim());
  if (!m?.[2]) return undefined;
  return m[1] === 'channel' ? { kind: 'channel', channelId: m[2] } : { kind: 'user', userId: m[2] };
}

/** Whitespace-folded query text: `multi-task  OR moe` and `multi-task OR moe` are one subscription. */
export function normalizeQueryText(query: string): string {
  return query.normalize('NFKC').replace(/\s+/g, ' ').trim();
}

/** The id of the subscription of `target` to `query`: equal targets and queries give equal ids. */
export function subscriptionId(target: Target, query: string): string {
  return `sub:${hash64(`${targetKey(target)}\n${normalizeQueryText(query)}`)}`;
}

/** The outbox id of `paperId` for `target`; updates get their own id per update time. */
export function deliveryId(target: Target, paperId: PaperId, updateAt?: string): string {
  const base = `${targetKey(target)}|${paperId}`;
  return updateAt ? `${base}|u:${updateAt}` : base;
}
