/**
 * Planning deliveries: the subscriptions compiled into a matcher, the matches of a step's papers
 * turned into the outbox's per-target plan, and that plan in a form that crosses threads cheaply
 * (the search thread plans while the cycle ingests, see `library.ts`). Imports nothing that only
 * the main thread can load: the search thread's script bundles this module.
 */
import type { PaperId } from '../core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  type MatchablePaper,
  type Matcher,
  type MatchHit,
  parseQuery,
  type Query,
} from '../core/query/index.js';
import {
  type Delivery,
  type DeliveryPlan,
  expandPlan,
  type PlanColumns,
  type PlannedExtra,
  type PlannedGroup,
  type Subscription,
  type Target,
  targetKey,
  unpackGroup,
  type WirePlan,
} from '../core/subscription.js';

export type { WirePlan } from '../core/subscription.js';

/** What planning needs of a subscription. */
export type PlanSubscription = Pick<Subscription, 'id' | 'query' | 'target' | 'notifyUpdates'>;

/** What planning needs of a paper: its text, and when it changed (for an update's id). */
export type PlanPaper = MatchablePaper & { updatedAt?: string };

/** The subscriptions compiled into one matcher, and by id. */
export function compileSubs<S extends PlanSubscription>(
  subs: readonly S[],
): { matcher: Matcher; subs: Map<string, S> } {
  const valid: Array<{ id: string; query: Query }> = [];
  for (const s of subs) {
    const parsed = parseQuery(s.query);
    // A stored query that no longer parses (the language changed) matches nothing rather than
    // stopping every other subscription; `subs list` shows it.
    if (parsed.ok) valid.push({ id: s.id, query: parsed.query });
  }
  return { matcher: compileMatcher(valid), subs: new Map(subs.map((s) => [s.id, s])) };
}

/** A subscription as the planner needs it, made once per subscription set. */
interface PlanSub {
  id: string;
  /** Its index in the set's order (see {@link planWire}). */
  order: number;
  notifyUpdates: boolean;
  target: PlanTarget;
  /** The plan this subscription was last added to its group's table in, and at which index. */
  plan: number;
  index: number;
}

/**
 * A target as the planner needs it, and scratch space reused by every plan, in which the plan's
 * group of this target is written as numbers. Kept from plan to plan (a few KB a target), it
 * holds no text between plans: grown by push, a step's groups of strings and arrays were most
 * of the search thread's garbage.
 */
interface PlanTarget {
  target: Target;
  /** The plan the group's columns below belong to. */
  plan: number;
  /** This plan's rows: paper (index in the request) and best score. */
  rowPaper: Int32Array;
  rowScore: Float64Array;
  nRows: number;
  /** The rows' refs, as {@link PlannedGroup.refs}. */
  refs: Int32Array;
  nRefs: number;
  /** The group's subscriptions, by their order in the set. */
  subOrder: Int32Array;
  nSubs: number;
  /** The group's extra rows. */
  extra: PlannedExtra[];
  /**
   * The group's words, by the plan's ids for them: open addressing over local index + 1, and
   * per local index its plan id and the last row that named it (a row lists a word once).
   */
  table: Int32Array;
  gids: Int32Array;
  wordRow: Int32Array;
  nWords: number;
  /** The paper `subs`/`hits` were collected for: its first `n` hits on this target, best first. */
  paper: number;
  n: number;
  subs: PlanSub[];
  hits: MatchHit[];
}

/** `a` with room for at least `need` elements, its first `used` kept. */
function roomInt(a: Int32Array, used: number, need: number): Int32Array {
  if (need <= a.length) return a;
  const out = new Int32Array(Math.max(need, 2 * a.length));
  out.set(a.subarray(0, used));
  return out;
}

function roomFloat(a: Float64Array, used: number, need: number): Float64Array {
  if (need <= a.length) return a;
  const out = new Float64Array(Math.max(need, 2 * a.length));
  out.set(a.subarray(0, used));
  return out;
}

/** Target `t`'s local index for plan word `gid`, added if new. */
function localWord(t: PlanTarget, gid: number): number {
  const mask = t.table.length - 1;
  let slot = (Math.imul(gid, 0x9e3779b1) >>> 0) & mask;
  for (let e = t.table[slot] as number; e !== 0; e = t.table[slot] as number) {
    if (t.gids[e - 1] === gid) return e - 1;
    slot = (slot + 1) & mask;
  }
  const i = t.nWords++;
  if (i === t.gids.length) {
    t.gids = roomInt(t.gids, i, i + 1);
    t.wordRow = roomInt(t.wordRow, i, i + 1);
  }
  t.gids[i] = gid;
  t.wordRow[i] = -1;
  if (2 * t.nWords <= t.table.length) {
    t.table[slot] = i + 1;
    return i;
  }
  // Half full: twice the slots, every word placed again.
  const table = new Int32Array(2 * t.table.length);
  const bigger = table.length - 1;
  for (let k = 0; k < t.nWords; k++) {
    let at = (Math.imul(t.gids[k] as number, 0x9e3779b1) >>> 0) & bigger;
    while (table[at] !== 0) at = (at + 1) & bigger;
    table[at] = k + 1;
  }
  t.table = table;
  return i;
}

const planSubsOf = new WeakMap<ReadonlyMap<string, PlanSubscription>, Map<string, PlanSub>>();
/** Per matcher, its subscriptions as planned, by their position in it (see `MatchHit` positions). */
const bySubPosition = new WeakMap<
  Matcher,
  { info: Map<string, PlanSub>; subs: Array<PlanSub | undefined> }
>();

/** `matcher`'s subscriptions as `info` plans them, by position: hits need no lookup by id. */
function positionedSubs(matcher: Matcher, info: Map<string, PlanSub>): Array<PlanSub | undefined> {
  const known = bySubPosition.get(matcher);
  if (known?.info === info) return known.subs;
  const subs = matcher.ids.map((id) => info.get(id));
  bySubPosition.set(matcher, { info, subs });
  return subs;
}
let planSerial = 0;
let paperSerial = 0;

function planSubs(subs: ReadonlyMap<string, PlanSubscription>): Map<string, PlanSub> {
  let out = planSubsOf.get(subs);
  if (out) return out;
  out = new Map();
  const targets = new Map<string, PlanTarget>();
  for (const [id, sub] of subs) {
    const key = targetKey(sub.target);
    let target = targets.get(key);
    if (!target) {
      target = {
        target: sub.target,
        plan: 0,
        rowPaper: new Int32Array(8),
        rowScore: new Float64Array(8),
        nRows: 0,
        refs: new Int32Array(32),
        nRefs: 0,
        subOrder: new Int32Array(4),
        nSubs: 0,
        extra: [],
        table: new Int32Array(16),
        gids: new Int32Array(8),
        wordRow: new Int32Array(8),
        nWords: 0,
        paper: 0,
        n: 0,
        subs: [],
        hits: [],
      };
      targets.set(key, target);
    }
    out.set(id, { id, order: out.size, notifyUpdates: sub.notifyUpdates, target, plan: 0, index: 0 });
  }
  planSubsOf.set(subs, out);
  return out;
}

/**
 * Turns matches of new (or updated) papers into outbox deliveries: one per paper and target,
 * naming every subscription of that target that matched (best first) and the words they
 * matched. Updates only reach subscriptions that asked for them. Plans straight into the
 * outbox's per-target form: no object, id or array per delivery (see {@link DeliveryPlan}).
 */
export function planByTarget(
  papers: ReadonlyArray<{ paper: PlanPaper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, PlanSubscription>,
  now: Date,
): DeliveryPlan {
  return unpackPlan(
    planWire(papers, matcher, subs, now).wire,
    papers.map((p) => p.paper.id),
    [...subs.keys()],
  );
}

/**
 * {@link planByTarget} in its wire form (see {@link WirePlan}), as the search thread sends it:
 * papers by their index in `papers`, subscriptions by their index in `subs`' order. Every
 * target's group is written as numbers into that target's scratch, then copied once into the
 * wire's columns.
 */
export function planWire(
  papers: ReadonlyArray<{ paper: PlanPaper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, PlanSubscription>,
  now: Date,
): { wire: WirePlan; transfer: ArrayBuffer[] } {
  const createdAt = now.toISOString();
  const info = planSubs(subs);
  const byPosition = positionedSubs(matcher, info);
  const serial = ++planSerial;
  // Scratch arrays keep their length (setting it to 0 per paper let V8 reallocate them).
  const touched: PlanTarget[] = [];
  const planned: PlanTarget[] = [];
  // The plan's words, each once: the targets' tables refer to them by id.
  const wordIds = new Map<string, number>();
  const wordList: string[] = [];
  let count = 0;
  for (let p = 0; p < papers.length; p++) {
    const { paper, kind } = papers[p] as { paper: PlanPaper; kind: 'new' | 'update' };
    // Reused hit objects: this paper's are read (and kept in the targets' scratch) only until
    // the next paper's match.
    const { hits, n: nHits, positions } = matcher.matchReused(analyzePaper(paper));
    if (nHits === 0) continue;
    const update = kind === 'update';
    const current = ++paperSerial;
    let nTouched = 0;
    for (let k = 0; k < nHits; k++) {
      const hit = hits[k] as MatchHit;
      const sub = byPosition[positions[k] as number];
      if (sub === undefined || (update && !sub.notifyUpdates)) continue;
      const t = sub.target;
      if (t.paper !== current) {
        t.paper = current;
        t.n = 0;
        touched[nTouched++] = t;
      }
      // Hits come best first; this keeps a target's hits so (stably) whatever the matcher does.
      let at = t.n++;
      while (at > 0 && (t.hits[at - 1] as MatchHit).score < hit.score) {
        t.hits[at] = t.hits[at - 1] as MatchHit;
        t.subs[at] = t.subs[at - 1] as PlanSub;
        at--;
      }
      t.hits[at] = hit;
      t.subs[at] = sub;
    }
    for (let k = 0; k < nTouched; k++) {
      const t = touched[k] as PlanTarget;
      if (t.plan !== serial) {
        t.plan = serial;
        t.nRows = t.nRefs = t.nSubs = t.nWords = 0;
        t.extra = [];
        t.table.fill(0);
        planned.push(t);
      }
      const row = t.nRows++;
      if (row === t.rowPaper.length) {
        t.rowPaper = roomInt(t.rowPaper, row, row + 1);
        t.rowScore = roomFloat(t.rowScore, row, row + 1);
      }
      t.rowPaper[row] = p;
      t.rowScore[row] = (t.hits[0] as MatchHit).score;
      const n = t.n;
      // At most: the count, n subscriptions, the words' count (words are checked as they come).
      let refs = roomInt(t.refs, t.nRefs, t.nRefs + n + 2);
      let r = t.nRefs;
      refs[r++] = n;
      for (let h = 0; h < n; h++) {
        const sub = t.subs[h] as PlanSub;
        if (sub.plan !== serial) {
          sub.plan = serial;
          sub.index = t.nSubs;
          if (t.nSubs === t.subOrder.length) t.subOrder = roomInt(t.subOrder, t.nSubs, t.nSubs + 1);
          t.subOrder[t.nSubs++] = sub.order;
        }
        refs[r++] = sub.index;
      }
      const countAt = r++;
      let words = 0;
      for (let h = 0; h < n; h++) {
        // Indexed, not for…of: the iterator's results were ~20 MB of this thread's garbage.
        const terms = (t.hits[h] as MatchHit).terms;
        for (let k = 0; k < terms.length; k++) {
          const w = terms[k] as string;
          let gid = wordIds.get(w);
          if (gid === undefined) {
            gid = wordList.length;
            wordList.push(w);
            wordIds.set(w, gid);
          }
          const i = localWord(t, gid);
          if (t.wordRow[i] !== row) {
            t.wordRow[i] = row;
            if (r === refs.length) refs = roomInt(refs, r, r + 1);
            refs[r++] = i;
            words++;
          }
        }
      }
      refs[countAt] = words;
      t.refs = refs;
      t.nRefs = r;
      if (update) t.extra.push([row, 'update', '', `|u:${paper.updatedAt ?? createdAt}`]);
      count++;
    }
  }
  // The scratch lets go of this plan: kept, the targets' last hits (and the matcher's last
  // paper) would hold the batch's text, and the feed document it was cut from, until the next
  // plan.
  matcher.release();
  const n = planned.length;
  let rows = 0;
  let nSubs = 0;
  let nWords = 0;
  let nRefs = 0;
  for (const t of planned) {
    rows += t.nRows;
    nSubs += t.nSubs;
    nWords += t.nWords;
    nRefs += t.nRefs;
  }
  const wire: WirePlan = {
    createdAt,
    count,
    targets: planned.map((t) => t.target),
    rowStart: new Int32Array(n + 1),
    rowPaper: new Int32Array(rows),
    rowScore: new Float64Array(rows),
    subStart: new Int32Array(n + 1),
    subs: new Int32Array(nSubs),
    wordStart: new Int32Array(n + 1),
    words: new Int32Array(nWords),
    wordList,
    refStart: new Int32Array(n + 1),
    refs: new Int32Array(nRefs),
    extra: [],
  };
  rows = nSubs = nWords = nRefs = 0;
  for (let g = 0; g < n; g++) {
    const t = planned[g] as PlanTarget;
    // Copied by hand: a `subarray` view per column and target was ~60 MB of a 100k-paper
    // cycle's garbage on this thread (sampling heap profiler).
    copyInto(wire.rowPaper, rows, t.rowPaper, t.nRows);
    copyInto(wire.rowScore, rows, t.rowScore, t.nRows);
    copyInto(wire.subs, nSubs, t.subOrder, t.nSubs);
    copyInto(wire.words, nWords, t.gids, t.nWords);
    copyInto(wire.refs, nRefs, t.refs, t.nRefs);
    for (const x of t.extra) wire.extra.push([g, ...x]);
    wire.rowStart[g + 1] = rows += t.nRows;
    wire.subStart[g + 1] = nSubs += t.nSubs;
    wire.wordStart[g + 1] = nWords += t.nWords;
    wire.refStart[g + 1] = nRefs += t.nRefs;
    t.extra = [];
    t.hits.length = 0;
    t.subs.length = 0;
  }
  const transfer = [
    wire.rowStart,
    wire.rowPaper,
    wire.rowScore,
    wire.subStart,
    wire.subs,
    wire.wordStart,
    wire.words,
    wire.refStart,
    wire.refs,
  ].map((a) => a.buffer as ArrayBuffer);
  return { wire, transfer };
}

/** The first `n` of `from` into `to` at `at`. */
function copyInto<A extends Int32Array | Float64Array>(to: A, at: number, from: A, n: number): void {
  for (let k = 0; k < n; k++) to[at + k] = from[k] as number;
}

/** {@link planByTarget} as `Delivery` objects, target by target. */
export function planDeliveries(
  papers: ReadonlyArray<{ paper: PlanPaper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, PlanSubscription>,
  now: Date,
): Delivery[] {
  return expandPlan(planByTarget(papers, matcher, subs, now));
}

/**
 * The plan {@link planWire} made, given the paper and subscription ids the indexes refer to. Its
 * groups are made when first read: the cycle's outbox writes records straight from the columns
 * (`roles.ts`), and unpacked, a 100k-paper cycle's groups were ~2.5M ids, scores and ~12M refs
 * in JS arrays, only to be written out again.
 */
export function unpackPlan(
  wire: WirePlan,
  paperIds: readonly PaperId[],
  subIds: readonly string[],
): DeliveryPlan {
  const columns: PlanColumns = { wire, paperIds, subIds };
  let groups: PlannedGroup[] | undefined;
  return {
    createdAt: wire.createdAt,
    count: wire.count,
    columns,
    get groups(): PlannedGroup[] {
      groups ??= unpackGroups(columns);
      return groups;
    },
  };
}

/** Every group of `columns`, as {@link PlannedGroup}s. */
function unpackGroups(columns: PlanColumns): PlannedGroup[] {
  const groups: PlannedGroup[] = [];
  for (let g = 0; g < columns.wire.targets.length; g++) groups.push(unpackGroup(columns, g));
  for (const [g, ...x] of columns.wire.extra) (groups[g] as PlannedGroup).extra.push(x);
  return groups;
}
