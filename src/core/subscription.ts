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

/**
 * Deliveries planned in one go, grouped by target the way the outbox stores them. A cycle plans
 * ~25 deliveries per paper (2.5M for 100k papers), so this holds none of them as an object: per
 * target, the subscription ids and words its deliveries name, once each, and per delivery (a
 * row) its paper, its score and indexes into those tables. {@link expandPlan} makes the
 * `Delivery` objects when a caller wants them.
 */
export interface DeliveryPlan {
  /** ISO-8601 time the plan was made: each row's `createdAt` unless its extra says otherwise. */
  createdAt: string;
  groups: PlannedGroup[];
  /** Rows in all groups. */
  count: number;
  /**
   * The same plan as the columns it was unpacked from, when it was: a writer may read these
   * instead of `groups` (which are then made only if read).
   */
  columns?: PlanColumns;
}

/**
 * A plan as it crosses from the search thread (`planWire` in `pipeline/plan.ts`): every group's
 * columns one after the other in typed arrays (moved, not copied), papers and subscriptions by
 * their index in the request, and each word once per plan. As structured-clone objects, a step's
 * ~50k rows of strings and arrays cost more to copy than to plan.
 */
export interface WirePlan {
  createdAt: string;
  count: number;
  targets: Target[];
  /** Per group `g`, its rows are `rowStart[g]` to `rowStart[g + 1]` of `rowPaper` and `rowScore`. */
  rowStart: Int32Array;
  rowPaper: Int32Array;
  rowScore: Float64Array;
  /** Per group, its subscriptions (indexes into the request's list), likewise. */
  subStart: Int32Array;
  subs: Int32Array;
  /** Per group, its words (indexes into `wordList`), likewise. */
  wordStart: Int32Array;
  words: Int32Array;
  wordList: string[];
  /** Per group, its refs, likewise. */
  refStart: Int32Array;
  refs: Int32Array;
  /** The groups' extra rows, each with its group's index first. */
  extra: Array<[group: number, ...PlannedExtra]>;
}

/** A {@link WirePlan} with the paper and subscription ids its indexes refer to. */
export interface PlanColumns {
  wire: WirePlan;
  paperIds: readonly PaperId[];
  subIds: readonly string[];
}

/** The planned deliveries of one target (see {@link DeliveryPlan}). */
export interface PlannedGroup {
  target: Target;
  /** `targetKey(target)`. */
  key: string;
  /** Subscription ids the rows refer to by index. */
  subs: string[];
  /** Highlighted words the rows refer to by index. */
  words: string[];
  /** Per row: its paper. */
  paperIds: PaperId[];
  /** Per row: its best score. */
  scores: number[];
  /**
   * Per row, one after the other: how many subscriptions, their indexes (best first), how many
   * words, their indexes.
   */
  refs: number[];
  /** The rows that are not a new delivery planned at `createdAt` under the id `key|paperId`. */
  extra: PlannedExtra[];
}

/** A row's kind, its own `createdAt` ('' for the plan's), the suffix of its id after `key|paperId`, or its whole id. */
export type PlannedExtra = [
  row: number,
  kind: 'new' | 'update',
  createdAt: string,
  suffix: string,
  id?: string,
];

/** An empty group for `target`, to add rows to. */
export function plannedGroup(target: Target, key: string = targetKey(target)): PlannedGroup {
  return { target, key, subs: [], words: [], paperIds: [], scores: [], refs: [], extra: [] };
}

/** Group `g` of `columns` (its extra rows not included). */
export function unpackGroup({ wire, paperIds, subIds }: PlanColumns, g: number): PlannedGroup {
  // Each column is made at its size and filled: grown by push from empty, they cost a
  // 100k-paper cycle ~345 MB of garbage (sampling heap profiler).
  const { rowStart, rowPaper, rowScore, subStart, wordStart, refStart } = wire;
  const target = wire.targets[g] as Target;
  const group = plannedGroup(target, targetKey(target));
  const r0 = rowStart[g] as number;
  const rows = (rowStart[g + 1] as number) - r0;
  const ids = new Array<PaperId>(rows);
  const scores = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    ids[r] = paperIds[rowPaper[r0 + r] as number] as PaperId;
    scores[r] = rowScore[r0 + r] as number;
  }
  const s0 = subStart[g] as number;
  const subs = new Array<string>((subStart[g + 1] as number) - s0);
  for (let k = 0; k < subs.length; k++) subs[k] = subIds[wire.subs[s0 + k] as number] as string;
  const w0 = wordStart[g] as number;
  const words = new Array<string>((wordStart[g + 1] as number) - w0);
  for (let k = 0; k < words.length; k++) words[k] = wire.wordList[wire.words[w0 + k] as number] as string;
  const f0 = refStart[g] as number;
  const refs = new Array<number>((refStart[g + 1] as number) - f0);
  for (let k = 0; k < refs.length; k++) refs[k] = wire.refs[f0 + k] as number;
  group.paperIds = ids;
  group.scores = scores;
  group.subs = subs;
  group.words = words;
  group.refs = refs;
  return group;
}

/** The plan of `deliveries` as they are (ids, kinds and times kept), grouped by target. */
export function planOf(
  deliveries: readonly Delivery[],
  createdAt = deliveries[0]?.createdAt ?? '',
): DeliveryPlan {
  const groups = new Map<
    string,
    { group: PlannedGroup; subs: Map<string, number>; words: Map<string, number> }
  >();
  const ref = (table: string[], index: Map<string, number>, value: string): number => {
    let i = index.get(value);
    if (i === undefined) {
      i = table.length;
      table.push(value);
      index.set(value, i);
    }
    return i;
  };
  for (const d of deliveries) {
    const key = targetKey(d.target);
    let g = groups.get(key);
    if (g === undefined) {
      g = { group: plannedGroup(d.target, key), subs: new Map(), words: new Map() };
      groups.set(key, g);
    }
    const { group } = g;
    const row = group.paperIds.length;
    group.paperIds.push(d.paperId);
    group.scores.push(d.score);
    group.refs.push(d.subscriptionIds.length);
    for (const id of d.subscriptionIds) group.refs.push(ref(group.subs, g.subs, id));
    group.refs.push(d.terms.length);
    for (const w of d.terms) group.refs.push(ref(group.words, g.words, w));
    // `key|paperId` plus a suffix for updates, checked without building the prefix.
    const plain =
      d.id.startsWith(key) &&
      d.id.charCodeAt(key.length) === 124 &&
      d.id.startsWith(d.paperId, key.length + 1);
    const suffix = plain ? d.id.slice(key.length + 1 + d.paperId.length) : '';
    const own = d.createdAt === createdAt ? '' : d.createdAt;
    if (!plain) group.extra.push([row, d.kind, own, '', d.id]);
    else if (d.kind !== 'new' || own !== '' || suffix !== '') group.extra.push([row, d.kind, own, suffix]);
  }
  const list = [...groups.values()].map((g) => g.group);
  return { createdAt, groups: list, count: deliveries.length };
}

/** The planned deliveries of `group` as pending `Delivery` objects, in row order. */
export function expandGroup(group: PlannedGroup, createdAt: string): Delivery[] {
  const { key, target, subs, words, paperIds, scores, refs } = group;
  const extra = new Map(group.extra.map((x) => [x[0], x]));
  const out: Delivery[] = [];
  let at = 0;
  for (let row = 0; row < paperIds.length; row++) {
    const paperId = paperIds[row] as PaperId;
    const subscriptionIds: string[] = [];
    for (let n = refs[at++] as number; n > 0; n--) subscriptionIds.push(subs[refs[at++] as number] as string);
    const terms: string[] = [];
    for (let n = refs[at++] as number; n > 0; n--) terms.push(words[refs[at++] as number] as string);
    const x = extra.get(row);
    out.push({
      id: x?.[4] ?? `${key}|${paperId}${x?.[3] ?? ''}`,
      target,
      paperId,
      subscriptionIds,
      score: scores[row] as number,
      terms,
      kind: x?.[1] ?? 'new',
      createdAt: x?.[2] || createdAt,
      state: 'pending',
      attempts: 0,
    });
  }
  return out;
}

/** Every delivery of `plan` as a pending `Delivery`, target by target. */
export function expandPlan(plan: DeliveryPlan): Delivery[] {
  return plan.groups.flatMap((g) => expandGroup(g, plan.createdAt));
}
