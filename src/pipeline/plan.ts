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
  type PaperWords,
  parseQuery,
  type Query,
} from '../core/query/index.js';
import {
  type Delivery,
  type DeliveryPlan,
  expandPlan,
  type PlanColumns,
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

/** A subscription set as the planner needs it, made once per set. */
interface PlanSet {
  /** The set's targets, each once, in the order their first subscription comes. */
  targets: Target[];
  /** By id, in the set's order: the subscription's index in it, its target's in {@link targets}, and whether it wants updates. */
  byId: Map<string, { order: number; target: number; notifyUpdates: boolean }>;
}

const planSets = new WeakMap<ReadonlyMap<string, PlanSubscription>, PlanSet>();

function planSet(subs: ReadonlyMap<string, PlanSubscription>): PlanSet {
  let set = planSets.get(subs);
  if (set) return set;
  set = { targets: [], byId: new Map() };
  const targetIndex = new Map<string, number>();
  for (const [id, sub] of subs) {
    const key = targetKey(sub.target);
    let target = targetIndex.get(key);
    if (target === undefined) {
      target = set.targets.length;
      set.targets.push(sub.target);
      targetIndex.set(key, target);
    }
    set.byId.set(id, { order: set.byId.size, target, notifyUpdates: sub.notifyUpdates });
  }
  planSets.set(subs, set);
  return set;
}

/**
 * Per matcher position (see `MatchHit` positions), its subscription as a set plans it: the
 * target's index (-1: not in the set), the subscription's order and whether it wants updates.
 * Typed arrays, so a hit costs no object to follow.
 */
interface Positioned {
  set: PlanSet;
  target: Int32Array;
  order: Int32Array;
  updates: Uint8Array;
}

const positionedOf = new WeakMap<Matcher, Positioned>();

function positioned(matcher: Matcher, set: PlanSet): Positioned {
  const known = positionedOf.get(matcher);
  if (known?.set === set) return known;
  const n = matcher.ids.length;
  const out: Positioned = {
    set,
    target: new Int32Array(n).fill(-1),
    order: new Int32Array(n),
    updates: new Uint8Array(n),
  };
  matcher.ids.forEach((id, pos) => {
    const sub = set.byId.get(id);
    if (!sub) return;
    out.target[pos] = sub.target;
    out.order[pos] = sub.order;
    out.updates[pos] = sub.notifyUpdates ? 1 : 0;
  });
  positionedOf.set(matcher, out);
  return out;
}

/** `a` with room for at least `need` elements, its first `used` kept. */
function roomInt(a: Int32Array<ArrayBuffer>, used: number, need: number): Int32Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const out = new Int32Array(Math.max(need, 2 * a.length));
  out.set(a.subarray(0, used));
  return out;
}

function roomFloat(a: Float64Array<ArrayBuffer>, used: number, need: number): Float64Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const out = new Float64Array(Math.max(need, 2 * a.length));
  out.set(a.subarray(0, used));
  return out;
}

/**
 * The planner's scratch, kept from plan to plan: numbers only, so it holds no paper's text
 * between plans.
 */
const scratch = {
  /** Per hit, in match order: its target, paper, subscription (order) and score. */
  hitTarget: new Int32Array(1024),
  hitPaper: new Int32Array(1024),
  hitSub: new Int32Array(1024),
  hitScore: new Float64Array(1024),
  /** Hit `h`'s words (plan word ids) are `termPool[hitTerms[h], hitTerms[h + 1])`. */
  hitTerms: new Int32Array(1025),
  termPool: new Int32Array(4096),
  /** The hits, target by target (in the order targets were first hit), in match order. */
  byTarget: new Int32Array(1024),
  /** Per target: its hits in this plan, and where its run in {@link byTarget} goes. */
  count: new Int32Array(64),
  cursor: new Int32Array(64),
  /** Per target, the plan that last counted its hits. */
  countedIn: new Int32Array(64),
  touched: new Int32Array(64),
  /** The wire's columns, written group after group, before they are cut to size. */
  rowPaper: new Int32Array(1024),
  rowScore: new Float64Array(1024),
  subs: new Int32Array(1024),
  words: new Int32Array(1024),
  refs: new Int32Array(4096),
  /** Per subscription (by order) and per plan word: the group that last named it, and its index there. */
  subGroup: new Int32Array(64),
  subLocal: new Int32Array(64),
  wordGroup: new Int32Array(1024),
  wordLocal: new Int32Array(1024),
  /** Per plan word, the row that last named it: a row lists a word once. */
  wordRow: new Int32Array(1024),
};

/**
 * Stamps for plans, groups and rows, never reused: compared with the stamps the scratch keeps,
 * nothing needs clearing between plans. Restarted (with the stamp arrays cleared) long before
 * they would overflow.
 */
let stamp = 0;

function nextStamp(): number {
  if (stamp >= 0x3fffffff) {
    stamp = 0;
    for (const a of [scratch.countedIn, scratch.subGroup, scratch.wordGroup, scratch.wordRow]) a.fill(0);
  }
  return ++stamp;
}

/** `a` with room for `need` stamps: a fresh array, as every old stamp is out of date anyway. */
function roomStamps(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  return need <= a.length ? a : new Int32Array(Math.max(need, 2 * a.length));
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
 * papers by their index in `papers`, subscriptions by their index in `subs`' order.
 *
 * In three passes over flat arrays, because a step's ~50k hits land on targets at random: the
 * hits are written down as numbers in match order, sorted by target (a counting sort that keeps
 * that order), then each target's group is written out, row after row, straight into the wire's
 * columns. Written target by target as the hits came, every hit touched its target's own
 * arrays and the planner spent most of its time waiting on memory (ADR 9, stop 17 addendum).
 */
export function planWire(
  papers: ReadonlyArray<{ paper: PlanPaper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, PlanSubscription>,
  now: Date,
  /**
   * The words the search index read in paper `p` (the search thread indexes a step's papers
   * before it plans them): the matcher takes those instead of reading the text again.
   */
  wordsOf?: (p: number) => PaperWords | undefined,
): { wire: WirePlan; transfer: ArrayBuffer[] } {
  const createdAt = now.toISOString();
  const set = planSet(subs);
  const pos = positioned(matcher, set);
  const nTargets = set.targets.length;
  const x = scratch;
  if (x.count.length < nTargets) {
    x.count = new Int32Array(nTargets);
    x.cursor = new Int32Array(nTargets);
    x.countedIn = new Int32Array(nTargets);
    x.touched = new Int32Array(nTargets);
  }
  x.subGroup = roomStamps(x.subGroup, set.byId.size);
  if (x.subLocal.length < x.subGroup.length) x.subLocal = new Int32Array(x.subGroup.length);
  const plan = nextStamp();
  // The plan's words, each once: the groups refer to them by id.
  const wordIds = new Map<string, number>();
  const wordList: string[] = [];

  // 1. The hits, as numbers.
  let nh = 0;
  let nt = 0;
  let nTouched = 0;
  x.hitTerms[0] = 0;
  for (let p = 0; p < papers.length; p++) {
    const { paper, kind } = papers[p] as { paper: PlanPaper; kind: 'new' | 'update' };
    // Reused hit objects: read only until the next paper's match.
    const { hits, n, positions } = matcher.matchReused(analyzePaper(paper), wordsOf?.(p));
    if (n === 0) continue;
    const update = kind === 'update';
    if (nh + n > x.hitTarget.length) {
      x.hitTarget = roomInt(x.hitTarget, nh, nh + n);
      x.hitPaper = roomInt(x.hitPaper, nh, nh + n);
      x.hitSub = roomInt(x.hitSub, nh, nh + n);
      x.hitScore = roomFloat(x.hitScore, nh, nh + n);
    }
    // Checked on its own: one longer than the others, it does not grow in step with them.
    if (nh + n + 1 > x.hitTerms.length) x.hitTerms = roomInt(x.hitTerms, nh + 1, nh + n + 1);
    for (let k = 0; k < n; k++) {
      const at = positions[k] as number;
      const t = pos.target[at] as number;
      if (t < 0 || (update && pos.updates[at] === 0)) continue;
      const hit = hits[k] as MatchHit;
      x.hitTarget[nh] = t;
      x.hitPaper[nh] = p;
      x.hitSub[nh] = pos.order[at] as number;
      x.hitScore[nh] = hit.score;
      // Indexed, not for…of: the iterator's results were ~20 MB of this thread's garbage.
      const terms = hit.terms;
      if (nt + terms.length > x.termPool.length) x.termPool = roomInt(x.termPool, nt, nt + terms.length);
      for (let j = 0; j < terms.length; j++) {
        const w = terms[j] as string;
        let gid = wordIds.get(w);
        if (gid === undefined) {
          gid = wordList.length;
          wordList.push(w);
          wordIds.set(w, gid);
        }
        x.termPool[nt++] = gid;
      }
      x.hitTerms[++nh] = nt;
      if (x.countedIn[t] !== plan) {
        x.countedIn[t] = plan;
        x.count[t] = 0;
        x.touched[nTouched++] = t;
      }
      x.count[t] = (x.count[t] as number) + 1;
    }
  }
  // The scratch holds no text: kept, the matcher's last paper would hold the batch's text, and
  // the feed document it was cut from, until the next plan.
  matcher.release();

  // 2. The hits by target: targets in the order they were first hit, each one's hits in match
  // order (so by paper).
  if (nh > x.byTarget.length) x.byTarget = new Int32Array(Math.max(nh, 2 * x.byTarget.length));
  let run = 0;
  for (let g = 0; g < nTouched; g++) {
    const t = x.touched[g] as number;
    x.cursor[t] = run;
    run += x.count[t] as number;
  }
  for (let h = 0; h < nh; h++) {
    const t = x.hitTarget[h] as number;
    const c = x.cursor[t] as number;
    x.byTarget[c] = h;
    x.cursor[t] = c + 1;
  }

  // 3. Each target's group, row after row. At most a row, a subscription and two refs a hit,
  // and a ref a word.
  const nWordIds = wordList.length;
  x.wordGroup = roomStamps(x.wordGroup, nWordIds);
  x.wordRow = roomStamps(x.wordRow, nWordIds);
  if (x.wordLocal.length < x.wordGroup.length) x.wordLocal = new Int32Array(x.wordGroup.length);
  if (nh > x.rowPaper.length) {
    x.rowPaper = new Int32Array(Math.max(nh, 2 * x.rowPaper.length));
    x.rowScore = new Float64Array(x.rowPaper.length);
    x.subs = new Int32Array(x.rowPaper.length);
  }
  if (nt > x.words.length) x.words = new Int32Array(Math.max(nt, 2 * x.words.length));
  if (3 * nh + nt > x.refs.length) x.refs = new Int32Array(Math.max(3 * nh + nt, 2 * x.refs.length));
  const { byTarget, hitPaper, hitSub, hitScore, hitTerms, termPool, rowPaper, rowScore, refs } = x;
  const targets: Target[] = [];
  const rowStart = new Int32Array(nTouched + 1);
  const subStart = new Int32Array(nTouched + 1);
  const wordStart = new Int32Array(nTouched + 1);
  const refStart = new Int32Array(nTouched + 1);
  const extra: WirePlan['extra'] = [];
  let rows = 0;
  let nSubs = 0;
  let nWords = 0;
  let r = 0;
  let i = 0;
  for (let g = 0; g < nTouched; g++) {
    targets.push(set.targets[x.touched[g] as number] as Target);
    const group = nextStamp();
    const end = i + (x.count[x.touched[g] as number] as number);
    const firstRow = rows;
    const firstSub = nSubs;
    const firstWord = nWords;
    while (i < end) {
      const p = hitPaper[byTarget[i] as number] as number;
      let j = i + 1;
      while (j < end && hitPaper[byTarget[j] as number] === p) j++;
      // This paper's hits on this target, best first; stable, whatever order the matcher gave.
      for (let a = i + 1; a < j; a++) {
        const h = byTarget[a] as number;
        let b = a;
        while (b > i && (hitScore[byTarget[b - 1] as number] as number) < (hitScore[h] as number)) {
          byTarget[b] = byTarget[b - 1] as number;
          b--;
        }
        byTarget[b] = h;
      }
      const row = rows++;
      rowPaper[row] = p;
      rowScore[row] = hitScore[byTarget[i] as number] as number;
      refs[r++] = j - i;
      for (let a = i; a < j; a++) {
        const order = hitSub[byTarget[a] as number] as number;
        if (x.subGroup[order] !== group) {
          x.subGroup[order] = group;
          x.subLocal[order] = nSubs - firstSub;
          x.subs[nSubs++] = order;
        }
        refs[r++] = x.subLocal[order] as number;
      }
      const countAt = r++;
      const rowStamp = nextStamp();
      for (let a = i; a < j; a++) {
        const h = byTarget[a] as number;
        for (let k = hitTerms[h] as number, kEnd = hitTerms[h + 1] as number; k < kEnd; k++) {
          const gid = termPool[k] as number;
          if (x.wordRow[gid] === rowStamp) continue;
          x.wordRow[gid] = rowStamp;
          if (x.wordGroup[gid] !== group) {
            x.wordGroup[gid] = group;
            x.wordLocal[gid] = nWords - firstWord;
            x.words[nWords++] = gid;
          }
          refs[r++] = x.wordLocal[gid] as number;
        }
      }
      refs[countAt] = r - countAt - 1;
      const { paper, kind } = papers[p] as { paper: PlanPaper; kind: 'new' | 'update' };
      if (kind === 'update')
        extra.push([g, row - firstRow, 'update', '', `|u:${paper.updatedAt ?? createdAt}`]);
      i = j;
    }
    rowStart[g + 1] = rows;
    subStart[g + 1] = nSubs;
    wordStart[g + 1] = nWords;
    refStart[g + 1] = r;
  }
  // The columns cut to size: copies, as the scratch stays here and the wire's buffers move.
  const wire: WirePlan = {
    createdAt,
    count: rows,
    targets,
    rowStart,
    rowPaper: rowPaper.slice(0, rows),
    rowScore: rowScore.slice(0, rows),
    subStart,
    subs: x.subs.slice(0, nSubs),
    wordStart,
    words: x.words.slice(0, nWords),
    wordList,
    refStart,
    refs: refs.slice(0, r),
    extra,
  };
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
