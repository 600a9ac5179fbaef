/**
 * The stores behind subscriptions, per-target settings and the delivery outbox, over Keyv
 * namespaces; and the coordinators that give several processes atomic leases.
 *
 * Keys are URI-encoded: ids such as `channel:1|arxiv:2411.17700` contain `:`, which Keyv treats
 * as its namespace separator when iterating.
 */
import type { Keyv } from 'keyv';
import type { PaperId } from '../core/paper.js';
import {
  type Delivery,
  type DeliveryPlan,
  expandGroup,
  expandPlan,
  type PlanColumns,
  type PlannedExtra,
  type PlannedGroup,
  planOf,
  type Subscription,
  type Target,
  type TargetSettings,
  targetKey,
  unpackGroup,
} from '../core/subscription.js';
import { type JsonByteWriter, JsonFragment, JsonStrings } from './json-bytes.js';
import type { KeyvBackend } from './keyv-backends.js';
import type {
  Coordinator,
  MatchJournal,
  MatchJournalEntry,
  OutboxBatch,
  OutboxStats,
  OutboxStore,
  SubscriptionStore,
  TargetSettingsStore,
  UnlistedRecords,
} from './types.js';

const enc = (key: string): string => encodeURIComponent(key);
const dec = (key: string): string => decodeURIComponent(key);
const BATCH = 1000;

function chunks<T>(items: readonly T[], size = BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function entries<V>(keyv: Keyv): Promise<Array<[string, V]>> {
  if (keyv.iterator === undefined) throw new Error('store: this Keyv store cannot iterate');
  const out: Array<[string, V]> = [];
  for await (const [key, value] of keyv.iterator(keyv.namespace) as AsyncIterable<[string, V]>) {
    if (value !== undefined && value !== null) out.push([dec(key), value]);
  }
  return out;
}

async function readMany<V>(keyv: Keyv, keys: readonly string[]): Promise<Map<string, V>> {
  const out = new Map<string, V>();
  for (const chunk of chunks([...new Set(keys)])) {
    const values = await keyv.getMany<V>(chunk.map(enc));
    for (const [i, key] of chunk.entries()) {
      const v = values[i];
      if (v !== undefined && v !== null) out.set(key, v);
    }
  }
  return out;
}

async function writeMany(
  keyv: Keyv,
  items: ReadonlyArray<{ key: string; value: unknown; ttl?: number }>,
  what: string,
) {
  for (const chunk of chunks(items)) {
    const ok = await keyv.setMany(
      chunk.map((e) => ({ key: enc(e.key), value: e.value, ...(e.ttl === undefined ? {} : { ttl: e.ttl }) })),
    );
    if (Array.isArray(ok) && ok.includes(false)) throw new Error(`store: writing ${what} failed`);
  }
}

async function deleteMany(keyv: Keyv, keys: readonly string[]) {
  for (const chunk of chunks(keys)) await keyv.deleteMany(chunk.map(enc));
}

/**
 * Subscriptions by id. The whole set is small (10k subscriptions are a few MB) and read every
 * cycle and by every delivery, so `list` keeps it until the set changes: each write also
 * writes a new random version token to `meta`, and a reader that finds the token it cached
 * knows nothing was written since (writers write the data, then the token; readers read the
 * token, then the data). One small read instead of 10k, also across processes.
 */
export function createKeyvSubscriptionStore(keyv: Keyv, meta: Keyv): SubscriptionStore {
  let cache: { version: string | undefined; subs: Map<string, Subscription> } | undefined;
  const all = async (): Promise<Map<string, Subscription>> => {
    const version = (await meta.get<string>('subscriptions-version')) ?? undefined;
    if (cache && version !== undefined && cache.version === version) return cache.subs;
    cache = { version, subs: new Map(await entries<Subscription>(keyv)) };
    return cache.subs;
  };
  const invalidate = async () => {
    cache = undefined;
    await meta.set(
      'subscriptions-version',
      `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`,
    );
  };
  return {
    async put(sub) {
      await writeMany(keyv, [{ key: sub.id, value: sub }], 'subscription');
      await invalidate();
    },
    get: async (id) => (await keyv.get<Subscription>(enc(id))) ?? undefined,
    async remove(id) {
      const existed = (await keyv.get(enc(id))) !== undefined;
      if (existed) await keyv.delete(enc(id));
      await invalidate();
      return existed;
    },
    list: async () => [...(await all()).values()],
    listByTarget: async (key) => [...(await all()).values()].filter((s) => targetKey(s.target) === key),
    async setPaused(id, paused) {
      const sub = await keyv.get<Subscription>(enc(id));
      if (!sub) return;
      const next: Subscription = { ...sub };
      if (paused === undefined) delete next.paused;
      else next.paused = paused;
      await writeMany(keyv, [{ key: id, value: next }], 'subscription');
      await invalidate();
    },
  };
}

export function createKeyvTargetStore(keyv: Keyv): TargetSettingsStore {
  return {
    get: async (key) => (await keyv.get<TargetSettings>(enc(key))) ?? undefined,
    set: (s) => writeMany(keyv, [{ key: targetKey(s.target), value: s }], 'target settings'),
    list: async () => (await entries<TargetSettings>(keyv)).map(([, v]) => v),
  };
}

/** One enqueue call's records for one target, as the target's queue index lists them. */
interface QueueEntry {
  /** The enqueue call's key. */
  e: string;
  /** Deliveries in the record. */
  n: number;
  /** The record is under `<target>|<e>` (layout 2) rather than `<e>|<target>`. */
  old?: true;
}

/**
 * Where a record is in `queue`. Call first: a call writes a record for most targets, and keys
 * that share their start are neighbours in the B-tree, so one call's inserts touch a few index
 * pages instead of every one (target first, as layout 2 did, halved what SQLite wrote for them).
 */
const recordKey = (target: string, q: QueueEntry): string =>
  q.old ? `${target}|${q.e}` : `${q.e}|${target}`;

/**
 * A target's queue index as stored: `<call> <count>` per record, joined by `,` (call keys have
 * neither), `~` before a call whose record has the layout 2 key. One string, not a list of
 * objects: every enqueue call appends to the index of each target it writes, so that a cycle of
 * 50 steps over 2000 targets read and wrote 2.5M entry objects for indexes that only grow; now
 * each step appends to a string without parsing it. Stores written before hold the list
 * (`QueueEntry[]`, layout 2 keys), read as well.
 */
type StoredIndex = string | Array<{ e: string; n: number }>;

function parseIndex(stored: StoredIndex): QueueEntry[] {
  if (typeof stored !== 'string') return stored.map((q) => ({ e: q.e, n: q.n, old: true }));
  if (stored === '') return [];
  return stored.split(',').map((item) => {
    const space = item.lastIndexOf(' ');
    const n = Number(item.slice(space + 1));
    return item.startsWith('~') ? { e: item.slice(1, space), n, old: true } : { e: item.slice(0, space), n };
  });
}

const formatIndex = (list: readonly QueueEntry[]): string =>
  list.map((q) => `${q.old ? '~' : ''}${q.e} ${q.n}`).join(',');

/** Whether a string index names call `e` (either layout), without parsing it. */
const indexHas = (stored: string, e: string): boolean =>
  stored.startsWith(`${e} `) ||
  stored.startsWith(`~${e} `) ||
  stored.includes(`,${e} `) ||
  stored.includes(`,~${e} `);

/**
 * A queue record as stored (layout 3): one planned group (see `DeliveryPlan`), the target and
 * planning time once, the subscription ids and words once each (`s`, `w`), then one column per
 * field: paper ids (`p`), scores (`c`), and the rows' indexes into `s` and `w` (`r`: count,
 * indexes, count, indexes). Rows that are not a plain new delivery are listed in `x`. Scores are
 * stored in thousandths when that is exact (the compiled matcher rounds to them): a short
 * integer instead of up to 17 digits. ~35 bytes a delivery, against ~60 in layout 2's tuples,
 * and nothing to build per delivery when writing a plan.
 */
interface QueueRecord {
  target: Target;
  createdAt: string;
  s: string[];
  w: string[];
  p: PaperId[];
  c: number[];
  r: number[];
  x?: PlannedExtra[];
}

/**
 * Layout 2 (before the plan): each delivery as a tuple
 * `[paperId, score, subscription indexes, word indexes, kind, createdAt or '', id suffix, id?]`.
 * Still read; never written.
 */
interface TupleRecord {
  target: Target;
  createdAt: string;
  s: string[];
  w: string[];
  d: Array<
    | [PaperId, number, number[], number[], 'n' | 'u', string, string]
    | [PaperId, number, number[], number[], 'n' | 'u', string, string, string]
  >;
}

/** A score in thousandths where that is exact; any other score as it is (never an integer then). */
function encodeScore(score: number): number {
  const milli = Math.round(score * 1000);
  // Integers are thousandths when read: a huge integer score is stored rounded to them too.
  return milli / 1000 === score || Number.isInteger(score) ? milli : score;
}

function encodeScores(scores: readonly number[]): number[] {
  const out = new Array<number>(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = encodeScore(scores[i] as number);
  return out;
}

function encodeRecord(group: PlannedGroup, createdAt: string): QueueRecord {
  const record: QueueRecord = {
    target: group.target,
    createdAt,
    s: group.subs,
    w: group.words,
    p: group.paperIds,
    c: encodeScores(group.scores),
    r: group.refs,
  };
  if (group.extra.length > 0) record.x = group.extra;
  return record;
}

/** `,"name":` (`{"name":` for the first), as a record's keys are written. */
function writeKey(w: JsonByteWriter, name: string, first = false): void {
  w.byte(first ? 0x7b : 0x2c);
  w.string(name);
  w.byte(0x3a);
}

/**
 * `[…]` of the strings of `table` that `ids[from, to)` name. Its own loop, not a helper calling
 * back per element: that was ~25% slower (profiled).
 */
function writeStrings(
  w: JsonByteWriter,
  table: JsonStrings,
  ids: Int32Array,
  from: number,
  to: number,
): void {
  w.byte(0x5b);
  for (let k = from; k < to; k++) {
    if (k > from) w.byte(0x2c);
    table.writeTo(w, ids[k] as number);
  }
  w.byte(0x5d);
}

/**
 * Group `g` of a plan's columns as its record: written, the very text {@link encodeRecord} of
 * the unpacked group gives, from the columns (no group, no arrays); as a value, that record.
 * A 100k-paper cycle writes ~2.5M deliveries in ~100k records: unpacked into JS arrays and then
 * walked by the JSON writer, they cost its main thread ~0.7 s (profiled).
 */
class ColumnsRecord extends JsonFragment {
  constructor(
    private readonly columns: PlanColumns,
    private readonly strings: () => PlanStrings,
    private readonly g: number,
    private readonly extra: PlannedExtra[],
  ) {
    super();
  }

  toJSON(): QueueRecord {
    const group = unpackGroup(this.columns, this.g);
    group.extra = this.extra;
    return encodeRecord(group, this.columns.wire.createdAt);
  }

  writeJson(w: JsonByteWriter): void {
    const { wire } = this.columns;
    const { papers, words, subs } = this.strings();
    const g = this.g;
    writeKey(w, 'target', true);
    w.write(wire.targets[g]);
    writeKey(w, 'createdAt');
    w.string(wire.createdAt);
    writeKey(w, 's');
    writeStrings(w, subs, wire.subs, wire.subStart[g] as number, wire.subStart[g + 1] as number);
    writeKey(w, 'w');
    writeStrings(w, words, wire.words, wire.wordStart[g] as number, wire.wordStart[g + 1] as number);
    const r0 = wire.rowStart[g] as number;
    const r1 = wire.rowStart[g + 1] as number;
    writeKey(w, 'p');
    writeStrings(w, papers, wire.rowPaper, r0, r1);
    writeKey(w, 'c');
    w.byte(0x5b);
    for (let k = r0; k < r1; k++) {
      if (k > r0) w.byte(0x2c);
      w.number(encodeScore(wire.rowScore[k] as number));
    }
    w.byte(0x5d);
    writeKey(w, 'r');
    w.byte(0x5b);
    const f0 = wire.refStart[g] as number;
    const f1 = wire.refStart[g + 1] as number;
    for (let k = f0; k < f1; k++) {
      if (k > f0) w.byte(0x2c);
      w.number(wire.refs[k] as number);
    }
    w.byte(0x5d);
    if (this.extra.length > 0) {
      writeKey(w, 'x');
      w.write(this.extra);
    }
    w.byte(0x7d);
  }
}

/** A plan's paper ids, words and subscription ids, as JSON. */
interface PlanStrings {
  papers: JsonStrings;
  words: JsonStrings;
  subs: JsonStrings;
}

/**
 * Subscription ids as JSON, per list of them: the library sends plans one set's list, the same
 * array until the set changes.
 */
const subStrings = new WeakMap<readonly string[], JsonStrings>();

/**
 * The records of a plan's non-empty groups: from its columns when it has them and the backend
 * writes values itself (it writes a {@link JsonFragment} as such; Keyv's own serializers may not
 * call `toJSON`), else from its groups.
 */
function planRecords(
  plan: DeliveryPlan,
  fromColumns: boolean,
): Array<{ target: string; rows: number; value: unknown }> {
  const columns = plan.columns;
  if (!fromColumns || columns === undefined)
    return plan.groups
      .filter((g) => g.paperIds.length > 0)
      .map((g) => ({ target: g.key, rows: g.paperIds.length, value: encodeRecord(g, plan.createdAt) }));
  const { wire } = columns;
  // Made when the first record is written as bytes: a backend that writes each value through
  // `JSON.stringify` (Postgres) reads `toJSON` and never needs them.
  let strings: PlanStrings | undefined;
  const stringsOf = (): PlanStrings => {
    if (strings) return strings;
    let subs = subStrings.get(columns.subIds);
    if (subs === undefined) {
      subs = new JsonStrings(columns.subIds);
      subStrings.set(columns.subIds, subs);
    }
    strings = { papers: new JsonStrings(columns.paperIds), words: new JsonStrings(wire.wordList), subs };
    return strings;
  };
  const extra = new Map<number, PlannedExtra[]>();
  for (const [g, ...x] of wire.extra) {
    const list = extra.get(g);
    if (list) list.push(x);
    else extra.set(g, [x]);
  }
  const out: Array<{ target: string; rows: number; value: unknown }> = [];
  for (let g = 0; g < wire.targets.length; g++) {
    const rows = (wire.rowStart[g + 1] as number) - (wire.rowStart[g] as number);
    if (rows > 0)
      out.push({
        target: targetKey(wire.targets[g] as Target),
        rows,
        value: new ColumnsRecord(columns, stringsOf, g, extra.get(g) ?? []),
      });
  }
  return out;
}

function decodeRecord(r: QueueRecord | TupleRecord): Delivery[] {
  if (!('d' in r)) {
    const group: PlannedGroup = {
      target: r.target,
      key: targetKey(r.target),
      subs: r.s,
      words: r.w,
      paperIds: r.p,
      scores: r.c.map((c) => (Number.isInteger(c) ? c / 1000 : c)),
      refs: r.r,
      extra: r.x ?? [],
    };
    return expandGroup(group, r.createdAt);
  }
  const key = targetKey(r.target);
  return r.d.map(([paperId, score, subs, words, kind, createdAt, suffix, id]) => ({
    id: id ?? `${key}|${paperId}${suffix}`,
    target: r.target,
    paperId,
    subscriptionIds: subs.map((i) => r.s[i] as string),
    score,
    terms: words.map((i) => r.w[i] as string),
    kind: kind === 'u' ? 'update' : 'new',
    createdAt: createdAt || r.createdAt,
    state: 'pending',
    attempts: 0,
  }));
}

/** The target key a delivery id starts with (`channel:1|arxiv:…` → `channel:1`). */
const targetOfDelivery = (id: string): string => id.slice(0, Math.max(0, id.indexOf('|')));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How long a settled delivery's state is kept once no queue record lists it: twice the longest
 * backfill (`subscriptions.backfillHours`, at most 30 days), the only way a paper first seen that
 * long ago could be planned for a target again. A replay after a crash plans again within a
 * cycle or two; the outbox sweep deletes what a stopped pass left unlisted after a day.
 */
export const SETTLED_RETENTION_MS = 60 * 24 * 3_600_000;

export interface OutboxStoreOptions {
  /** Serialises writers of the queue index (every process on the store shares it). */
  coordinator: Coordinator;
  /** {@link SETTLED_RETENTION_MS}, for tests. */
  settledRetentionMs?: number;
  /** How long a writer may hold the queue index. */
  indexLeaseMs?: number;
  /** Give up waiting for the queue index after this long. */
  indexWaitMs?: number;
  /**
   * The backend's direct write (SQLite: one transaction, values serialized as Keyv would), for
   * the queue and its index, instead of Keyv's own `setMany` (a 100k-paper cycle: 8.5–9.0k
   * papers/s against 8.2–8.3k, two runs each).
   */
  writeMany?: KeyvBackend['writeMany'];
  /**
   * The backend's key listing, when it has one: `pendingTargets` needs only which targets have an
   * index (an emptied index is deleted), not the values (~10 ms a call at 2000 targets).
   */
  listKeys?: KeyvBackend['listKeys'];
}

/**
 * The outbox, shaped for a cycle that plans tens of deliveries per paper:
 *
 * - `queue`: one record per target per enqueue call (`<call>|<target>` → its deliveries), so a
 *   cycle writes a record per target, not one per delivery;
 * - `qindex`: per target, the records it has (`<call> <count>,…`), changed only under a lease
 *   (`outbox:qindex`) so two writers never lose each other's entries;
 * - `deliveries`: a delivery's state once it changed (sent, dropped, failed attempts) — the
 *   history that stops a delivery from being planned or posted twice;
 * - `batches`: the message batches recorded before sending; `meta`: counters for /status, and
 *   `qindex-gen`, a token every writer of the index changes before it writes.
 *
 * A writer keeps the index values it wrote, and uses them again while `qindex-gen` is still the
 * token it wrote with them: no other writer has been since. A cycle appends to every target's
 * index once per step, so reading them all back each step was most of the enqueue's reads (0.7 s
 * of a 100k-paper cycle, O(steps²) bytes). The token changes before the index does, so a writer
 * that dies half-way leaves a token no one holds values for.
 *
 * A record whose deliveries are all settled is pruned from the index (and deleted) the next
 * time its target's pending deliveries are read. A record written again under the same call key
 * (a replay after a crash) replaces itself, and its settled deliveries stay settled.
 */
export function createKeyvOutboxStore(
  namespaces: { deliveries: Keyv; queue: Keyv; qindex: Keyv; batches: Keyv; meta: Keyv },
  options: OutboxStoreOptions,
): OutboxStore {
  const { deliveries, queue, qindex, batches, meta } = namespaces;
  const direct = options.writeMany;
  /** {@link writeMany}, or the backend's direct write when it has one: the same stored values. */
  const put = async (keyv: Keyv, items: ReadonlyArray<{ key: string; value: unknown }>, what: string) => {
    if (!direct) return writeMany(keyv, items, what);
    const namespace = keyv.namespace;
    if (namespace === undefined) throw new Error(`store: ${what} has no namespace`);
    await direct(items.map((e) => ({ namespace, key: enc(e.key), value: e.value })));
  };
  const leaseMs = options.indexLeaseMs ?? 30_000;
  const waitMs = options.indexWaitMs ?? 60_000;
  const instance = Math.random().toString(36).slice(2, 10);
  let calls = 0;
  /** Index values as this outbox last wrote them, valid while `qindex-gen` is `gen`. */
  let indexCache: { gen: string; values: Map<string, StoredIndex> } | undefined;
  let gens = 0;

  /**
   * Called under the index lease before any index write: a new token, so no outbox (this one
   * included) trusts values it kept from before. Returns the token.
   */
  const newIndexGen = async (): Promise<string> => {
    indexCache = undefined;
    const gen = `${instance}.${(++gens).toString(36)}.${Date.now().toString(36)}`;
    await meta.set('qindex-gen', gen);
    return gen;
  };

  /** Runs `fn` holding the queue-index lease; each call is its own owner, also in one process. */
  const withIndexLease = async <T>(fn: () => Promise<T>): Promise<T> => {
    const owner = `${instance}:${++calls}`;
    const deadline = Date.now() + waitMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (await options.coordinator.acquire('outbox:qindex', owner, leaseMs)) break;
      if (Date.now() > deadline) throw new Error('store: the outbox queue index stayed locked');
      await sleep(delay);
    }
    try {
      return await fn();
    } finally {
      await options.coordinator.release('outbox:qindex', owner);
    }
  };

  const readIndex = async (targets: readonly string[]): Promise<Map<string, QueueEntry[]>> => {
    const out = new Map<string, QueueEntry[]>();
    for (const [t, stored] of await readMany<StoredIndex>(qindex, targets)) out.set(t, parseIndex(stored));
    return out;
  };

  /** Every record of `targets`, with the deliveries' current state applied. */
  const readTargets = async (targets: readonly string[]) => {
    const index = await readIndex(targets);
    const recordKeys: string[] = [];
    for (const [t, list] of index) for (const q of list) recordKeys.push(recordKey(t, q));
    const records = new Map<string, Delivery[]>();
    for (const [k, r] of await readMany<QueueRecord | TupleRecord>(queue, recordKeys))
      records.set(k, decodeRecord(r));
    const ids: string[] = [];
    for (const list of records.values()) for (const d of list) ids.push(d.id);
    const states = await readMany<Delivery>(deliveries, ids);
    return { index, records, states };
  };

  /**
   * Pending deliveries of `targets` (each id once, in the order planned); records whose
   * deliveries are all settled are pruned.
   */
  const pendingOf = async (targets: readonly string[]): Promise<Delivery[]> => {
    const { index, records, states } = await readTargets(targets);
    const out: Delivery[] = [];
    const seen = new Set<string>();
    const settledRecords = new Map<string, Set<string>>();
    for (const [t, list] of index) {
      for (const q of list) {
        const record = records.get(recordKey(t, q)) ?? [];
        let live = 0;
        for (const planned of record) {
          const d = states.get(planned.id) ?? planned;
          if (d.state !== 'pending') continue;
          live++;
          if (seen.has(d.id)) continue;
          seen.add(d.id);
          out.push(d);
        }
        if (live === 0) {
          const set = settledRecords.get(t) ?? new Set<string>();
          set.add(q.e);
          settledRecords.set(t, set);
        }
      }
    }
    if (settledRecords.size > 0) {
      await prune(settledRecords);
      await expireSettled(index, records, states, settledRecords);
    }
    return out;
  };

  /**
   * Once their records are gone, the states of deliveries no record of their target lists any
   * more expire after {@link SETTLED_RETENTION_MS}: until then they still stop a second plan.
   * Never sooner: a record that still listed a delivery whose state had expired would show it
   * pending again. A delivery's id names its target, and every record of these targets was read.
   */
  const expireSettled = async (
    index: ReadonlyMap<string, readonly QueueEntry[]>,
    records: ReadonlyMap<string, readonly Delivery[]>,
    states: ReadonlyMap<string, Delivery>,
    settled: ReadonlyMap<string, ReadonlySet<string>>,
  ) => {
    const listed = new Set<string>();
    const freed = new Set<string>();
    for (const [t, list] of index) {
      const gone = settled.get(t);
      for (const q of list) {
        const into = gone?.has(q.e) ? freed : listed;
        for (const d of records.get(recordKey(t, q)) ?? []) into.add(d.id);
      }
    }
    const ttl = options.settledRetentionMs ?? SETTLED_RETENTION_MS;
    const expiring: Array<{ key: string; value: Delivery; ttl: number }> = [];
    for (const id of freed) {
      const state = states.get(id);
      if (state && state.state !== 'pending' && !listed.has(id))
        expiring.push({ key: id, value: state, ttl });
    }
    await writeMany(deliveries, expiring, 'settled deliveries');
  };

  const prune = (settled: ReadonlyMap<string, ReadonlySet<string>>) =>
    withIndexLease(async () => {
      const index = await readIndex([...settled.keys()]);
      await newIndexGen();
      const keep: Array<{ key: string; value: unknown }> = [];
      const emptied: string[] = [];
      const gone: string[] = [];
      for (const [t, list] of index) {
        const drop = settled.get(t) ?? new Set<string>();
        const rest = list.filter((q) => !drop.has(q.e));
        for (const q of list) if (drop.has(q.e)) gone.push(recordKey(t, q));
        if (rest.length === 0) emptied.push(t);
        else keep.push({ key: t, value: formatIndex(rest) });
      }
      await put(qindex, keep, 'outbox queue index');
      await deleteMany(qindex, emptied);
      await deleteMany(queue, gone);
    });

  /**
   * The keys of `keyv`'s namespace: by the backend's key listing when it has one, else read with
   * their values, of which `keep` may refuse some.
   */
  const keysOf = async <V>(keyv: Keyv, keep: (value: V) => boolean = () => true): Promise<string[]> => {
    if (options.listKeys && keyv.namespace !== undefined)
      return (await options.listKeys(keyv.namespace)).map(dec);
    return (await entries<V>(keyv)).filter(([, v]) => keep(v)).map(([k]) => k);
  };

  /** Targets with an index (an emptied one is deleted; an empty one of old is left out). */
  const allTargets = (): Promise<string[]> => keysOf<StoredIndex>(qindex, (list) => list.length > 0);

  const update = async (ids: readonly string[], fn: (d: Delivery) => Delivery, what: string) => {
    const current = await getDeliveries(ids);
    const next = [...current].map(([key, d]) => ({ key, value: fn(d) }));
    await writeMany(deliveries, next, what);
    return next.map((n) => n.value);
  };

  /** Deliveries by id: their changed state, else as planned in a pending record. */
  const getDeliveries = async (ids: readonly string[]): Promise<Map<string, Delivery>> => {
    const out = await readMany<Delivery>(deliveries, ids);
    const missing = ids.filter((id) => !out.has(id));
    if (missing.length === 0) return out;
    const wanted = new Set(missing);
    const { records } = await readTargets([...new Set(missing.map(targetOfDelivery))]);
    for (const record of records.values())
      for (const d of record) if (wanted.has(d.id) && !out.has(d.id)) out.set(d.id, d);
    return out;
  };

  const bump = async (field: 'sent' | 'dropped', n: number) => {
    if (n === 0) return;
    // Counters for /status: a lost increment under a race only skews a statistic.
    const counts = (await meta.get<{ sent: number; dropped: number }>('counts')) ?? { sent: 0, dropped: 0 };
    counts[field] += n;
    await meta.set('counts', counts);
  };

  /**
   * Writes each group of `plan` as one record of one call, and returns what {@link list} needs
   * to list them (undefined when there is nothing to write).
   */
  const writeRecords = async (
    plan: DeliveryPlan,
    batch: string | undefined,
  ): Promise<UnlistedRecords | undefined> => {
    const records = planRecords(plan, direct !== undefined);
    if (records.length === 0) return undefined;
    const call =
      batch !== undefined
        ? `b:${encodeURIComponent(batch)}`
        : `${Date.now().toString(36)}.${instance}.${(++calls).toString(36)}`;
    await put(
      queue,
      records.map((r) => ({ key: recordKey(r.target, { e: call, n: 0 }), value: r.value })),
      'outbox queue',
    );
    return { call, targets: records.map((r) => [r.target, r.rows]) };
  };

  /**
   * Lists written records in their targets' indexes, each target's once for all of `written`.
   * Records first, then the index that lists them: a crash in between leaves an unlisted record,
   * never an index entry pointing at nothing.
   */
  const list = async (written: readonly UnlistedRecords[]): Promise<void> => {
    const byTarget = new Map<string, Array<[call: string, n: number]>>();
    for (const w of written)
      for (const [key, n] of w.targets) {
        const calls = byTarget.get(key);
        if (calls) calls.push([w.call, n]);
        else byTarget.set(key, [[w.call, n]]);
      }
    if (byTarget.size === 0) return;
    await withIndexLease(async () => {
      const keys = [...byTarget.keys()];
      const cached = indexCache;
      const valid = cached !== undefined && (await meta.get<string>('qindex-gen')) === cached.gen;
      const index = await readMany<StoredIndex>(
        qindex,
        valid ? keys.filter((k) => !cached.values.has(k)) : keys,
      );
      if (valid)
        for (const k of keys)
          if (!index.has(k) && cached.values.has(k)) index.set(k, cached.values.get(k) as StoredIndex);
      const gen = await newIndexGen();
      const next: Array<{ key: string; value: string }> = [];
      const replaced: string[] = [];
      for (const [key, calls] of byTarget) {
        let stored = index.get(key);
        for (const [call, n] of calls) {
          const entry = `${call} ${n}`;
          if (stored === undefined || stored.length === 0) stored = entry;
          else if (typeof stored === 'string' && !indexHas(stored, call)) stored = `${stored},${entry}`;
          else {
            // A replay of this call, or an index in the old layout: rewritten in full. A replayed
            // record under its layout 2 key is replaced by the one just written.
            const entries = parseIndex(stored);
            for (const q of entries) if (q.e === call && q.old) replaced.push(recordKey(key, q));
            stored = formatIndex([...entries.filter((q) => q.e !== call), { e: call, n }]);
          }
        }
        next.push({ key, value: stored as string });
      }
      await put(qindex, next, 'outbox queue index');
      await deleteMany(queue, replaced);
      const values = valid ? cached.values : new Map<string, StoredIndex>();
      for (const n of next) values.set(n.key, n.value);
      indexCache = { gen, values };
    });
  };

  /**
   * Deletes the records no index lists that were planned before `cutoff`. Under the index
   * lease, so no listing runs meanwhile; the cutoff spares what a pass wrote and will list soon.
   */
  const sweepUnlisted = (cutoff: number): Promise<number> =>
    withIndexLease(async () => {
      // Every record's key, listed or not.
      const keys = await keysOf(queue);
      if (keys.length === 0) return 0;
      const listed = new Set<string>();
      for (const [t, list] of await readIndex(await allTargets()))
        for (const q of list) listed.add(recordKey(t, q));
      const unlisted = keys.filter((k) => !listed.has(k));
      const gone: string[] = [];
      for (const [k, r] of await readMany<QueueRecord | TupleRecord>(queue, unlisted)) {
        // A time that does not read is kept: nothing says the record is old.
        if (Date.parse(r.createdAt) < cutoff) gone.push(k);
      }
      await deleteMany(queue, gone);
      return gone.length;
    });

  const write = async (plan: DeliveryPlan, batch: string | undefined): Promise<void> => {
    const written = await writeRecords(plan, batch);
    if (written) await list([written]);
  };

  const outbox: OutboxStore = {
    async enqueue(ds, opts = {}) {
      // A fresh call's ids are new by the caller's word, and readers return an id once anyway:
      // only a checked call builds the id map.
      let fresh: readonly Delivery[] = ds;
      if (!opts.fresh && fresh.length > 0) {
        const unique = new Map(ds.map((d) => [d.id, d]));
        fresh = [...unique.values()];
        const settled = await readMany<Delivery>(deliveries, [...unique.keys()]);
        const pending = new Set(
          (await pendingOf([...new Set(fresh.map((d) => targetKey(d.target)))])).map((d) => d.id),
        );
        fresh = fresh.filter((d) => !settled.has(d.id) && !pending.has(d.id));
      }
      if (fresh.length === 0) return [];
      await write(planOf(fresh), opts.batch);
      return fresh.map((d) => d.id);
    },
    async enqueuePlan(plan, opts = {}) {
      if (!opts.fresh) return (await outbox.enqueue(expandPlan(plan), opts)).length;
      await write(plan, opts.batch);
      return plan.count;
    },
    writePlan: (plan, opts = {}) => writeRecords(plan, opts.batch),
    list,
    sweepUnlisted: ({ olderThanMs, now = new Date() }) => sweepUnlisted(now.getTime() - olderThanMs),
    async pending(key) {
      return pendingOf(key === undefined ? await allTargets() : [key]);
    },
    pendingTargets: allTargets,
    get: getDeliveries,
    async markSent(ids, info) {
      const done = await update(
        ids,
        (d) => ({ ...d, state: 'sent', messageId: info.messageId, sentAt: info.sentAt }),
        'sent deliveries',
      );
      await bump('sent', done.length);
    },
    async recordFailure(ids, error) {
      await update(ids, (d) => ({ ...d, attempts: d.attempts + 1, lastError: error }), 'delivery failures');
    },
    async drop(ids, reason) {
      const done = await update(
        ids,
        (d) => ({ ...d, state: 'dropped', lastError: reason }),
        'dropped deliveries',
      );
      await bump('dropped', done.length);
    },
    openBatch: (b) => writeMany(batches, [{ key: b.id, value: b }], 'outbox batch'),
    async openBatches(key) {
      return (await entries<OutboxBatch>(batches))
        .map(([, b]) => b)
        .filter((b) => key === undefined || b.targetKey === key);
    },
    async closeBatch(id) {
      await batches.delete(enc(id));
    },
    async stats(opts = {}): Promise<OutboxStats> {
      let pending = 0;
      if (opts.exact === false) {
        for (const [, list] of await entries<StoredIndex>(qindex))
          for (const q of parseIndex(list)) pending += q.n;
      } else pending = (await pendingOf(await allTargets())).length;
      const counts = (await meta.get<{ sent: number; dropped: number }>('counts')) ?? { sent: 0, dropped: 0 };
      return { pending, sent: counts.sent, failed: counts.dropped };
    },
  };
  return outbox;
}

/**
 * Moves deliveries still pending in the outbox layout before the queue (a `pending` namespace of
 * delivery id → target, the deliveries themselves in `deliveries`) into the queue, so an upgrade
 * loses none. Returns how many moved. Done once per store: a mark in `meta` says so, since
 * looking for the old namespace walks every key on Redis and every open would pay for it.
 */
export async function migrateLegacyPending(
  legacyPending: Keyv,
  deliveries: Keyv,
  meta: Keyv,
  outbox: OutboxStore,
): Promise<number> {
  if ((await meta.get<number>('outbox-layout')) === 2) return 0;
  const marks = await entries<string>(legacyPending);
  let moved = 0;
  if (marks.length > 0) {
    const ids = marks.map(([id]) => id);
    const planned = await readMany<Delivery>(deliveries, ids);
    const stillPending = [...planned.values()].filter((d) => d.state === 'pending');
    // A fixed batch key: a migration interrupted and run again rewrites the same records.
    await outbox.enqueue(stillPending, { fresh: true, batch: 'legacy-pending' });
    await deleteMany(legacyPending, ids);
    moved = stillPending.length;
  }
  await meta.set('outbox-layout', 2);
  return moved;
}

/** The match journal, one entry per stored batch, in its own namespace. */
export function createKeyvMatchJournal(keyv: Keyv): MatchJournal {
  return {
    add: (entry) => writeMany(keyv, [{ key: entry.id, value: entry }], 'match journal'),
    async list() {
      return (await entries<MatchJournalEntry>(keyv))
        .map(([, e]) => e)
        .sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
    },
    remove: (ids) => deleteMany(keyv, ids),
  };
}

/**
 * Leases for one process: the SQLite file is exclusively locked by the process that opened it,
 * so no other process can hold a lease on it and a map is atomic enough.
 */
export function createLocalCoordinator(now: () => number = Date.now): Coordinator {
  const leases = new Map<string, { owner: string; until: number }>();
  return {
    async acquire(key, owner, ttlMs) {
      const held = leases.get(key);
      if (held && held.owner !== owner && held.until > now()) return false;
      leases.set(key, { owner, until: now() + ttlMs });
      return true;
    },
    async release(key, owner) {
      if (leases.get(key)?.owner === owner) leases.delete(key);
    },
    async holder(key) {
      const held = leases.get(key);
      return held && held.until > now() ? held.owner : undefined;
    },
  };
}

/** The part of node-redis' client the Redis coordinator uses. */
export interface RedisLike {
  set(key: string, value: string, opts: { NX: true; PX: number }): Promise<string | null>;
  get(key: string): Promise<string | null>;
  eval(script: string, opts: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Leases in Redis: `SET NX PX` takes a free or expired key atomically; Lua renews and releases only the holder's. */
export function createRedisCoordinator(client: RedisLike, prefix = 'paperboy:lease:'): Coordinator {
  return {
    async acquire(key, owner, ttlMs) {
      const k = prefix + key;
      if ((await client.set(k, owner, { NX: true, PX: Math.max(1, Math.round(ttlMs)) })) === 'OK')
        return true;
      return (
        Number(await client.eval(RENEW, { keys: [k], arguments: [owner, String(Math.round(ttlMs))] })) === 1
      );
    },
    async release(key, owner) {
      await client.eval(RELEASE, { keys: [prefix + key], arguments: [owner] });
    },
    async holder(key) {
      return (await client.get(prefix + key)) ?? undefined;
    },
  };
}

export interface PgLike {
  query(sql: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Leases in Postgres: one upsert that takes the row only when it is free, expired or ours —
 * atomic under concurrent callers (the row lock serialises them).
 */
export function createPostgresCoordinator(pool: PgLike): Coordinator {
  let ready: Promise<unknown> | undefined;
  const create = () =>
    pool.query(
      'CREATE TABLE IF NOT EXISTS paperboy_leases (key text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL)',
    );
  const init = () =>
    (ready ??= create().catch((err: unknown) => {
      // Two connections creating the table at once: IF NOT EXISTS does not cover the race, one
      // of them fails on the catalog's unique index (23505) or finds the table made (42P07).
      const code = (err as { code?: string }).code;
      if (code === '23505' || code === '42P07') return create();
      ready = undefined;
      throw err;
    }));
  return {
    async acquire(key, owner, ttlMs) {
      await init();
      const { rows } = await pool.query(
        `INSERT INTO paperboy_leases (key, owner, expires_at)
         VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
         WHERE paperboy_leases.expires_at < clock_timestamp() OR paperboy_leases.owner = EXCLUDED.owner
         RETURNING owner`,
        [key, owner, Math.round(ttlMs)],
      );
      return rows.length === 1;
    },
    async release(key, owner) {
      await init();
      await pool.query('DELETE FROM paperboy_leases WHERE key = $1 AND owner = $2', [key, owner]);
    },
    async holder(key) {
      await init();
      const { rows } = await pool.query(
        'SELECT owner FROM paperboy_leases WHERE key = $1 AND expires_at >= clock_timestamp()',
        [key],
      );
      return (rows[0]?.owner as string | undefined) ?? undefined;
    },
  };
}
