/**
 * The stores behind subscriptions, per-target settings and the delivery outbox, over Keyv
 * namespaces; and the coordinators that give several processes atomic leases.
 *
 * Keys are URI-encoded: ids such as `channel:1|arxiv:2411.17700` contain `:`, which Keyv treats
 * as its namespace separator when iterating.
 */
import type { Keyv } from 'keyv';
import type { Delivery, Subscription, TargetSettings } from '../core/subscription.js';
import { targetKey } from '../core/subscription.js';
import type {
  Coordinator,
  OutboxBatch,
  OutboxStats,
  OutboxStore,
  SubscriptionStore,
  TargetSettingsStore,
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

async function writeMany(keyv: Keyv, items: ReadonlyArray<{ key: string; value: unknown }>, what: string) {
  for (const chunk of chunks(items)) {
    const ok = await keyv.setMany(chunk.map((e) => ({ key: enc(e.key), value: e.value })));
    if (Array.isArray(ok) && ok.includes(false)) throw new Error(`store: writing ${what} failed`);
  }
}

async function deleteMany(keyv: Keyv, keys: readonly string[]) {
  for (const chunk of chunks(keys)) await keyv.deleteMany(chunk.map(enc));
}

/**
 * Subscriptions by id. The whole set is small (10k subscriptions are a few MB) and read every
 * cycle, so `list` reads it once and keeps it until a write through this store changes it.
 */
export function createKeyvSubscriptionStore(keyv: Keyv): SubscriptionStore {
  let cache: Map<string, Subscription> | undefined;
  // Another process may write too: the cache lives for one short window only.
  let cachedAt = 0;
  const TTL_MS = 2_000;
  const all = async (): Promise<Map<string, Subscription>> => {
    if (cache && Date.now() - cachedAt < TTL_MS) return cache;
    cache = new Map(await entries<Subscription>(keyv));
    cachedAt = Date.now();
    return cache;
  };
  const invalidate = () => {
    cache = undefined;
  };
  return {
    async put(sub) {
      await writeMany(keyv, [{ key: sub.id, value: sub }], 'subscription');
      invalidate();
    },
    get: async (id) => (await keyv.get<Subscription>(enc(id))) ?? undefined,
    async remove(id) {
      const existed = (await keyv.get(enc(id))) !== undefined;
      if (existed) await keyv.delete(enc(id));
      invalidate();
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
      invalidate();
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

/**
 * The outbox: every delivery ever planned under its id in `deliveries` (so one is never planned
 * twice), the ids still to send in `pending` (so listing them never walks the history), and the
 * message batches recorded before sending in `batches`.
 */
export function createKeyvOutboxStore(
  deliveries: Keyv,
  pending: Keyv,
  batches: Keyv,
  meta: Keyv,
): OutboxStore {
  const update = async (ids: readonly string[], fn: (d: Delivery) => Delivery, what: string) => {
    const current = await readMany<Delivery>(deliveries, ids);
    const next = [...current].map(([key, d]) => ({ key, value: fn(d) }));
    await writeMany(deliveries, next, what);
    return next.map((n) => n.value);
  };
  const bump = async (field: 'sent' | 'dropped', n: number) => {
    if (n === 0) return;
    // Counters for /status: a lost increment under a race only skews a statistic.
    const counts = (await meta.get<{ sent: number; dropped: number }>('counts')) ?? { sent: 0, dropped: 0 };
    counts[field] += n;
    await meta.set('counts', counts);
  };
  return {
    async enqueue(ds) {
      const unique = new Map(ds.map((d) => [d.id, d]));
      const known = await readMany<Delivery>(deliveries, [...unique.keys()]);
      const fresh = [...unique.values()].filter((d) => !known.has(d.id));
      // The delivery first, then its pending mark: a crash in between loses no record.
      await writeMany(
        deliveries,
        fresh.map((d) => ({ key: d.id, value: d })),
        'deliveries',
      );
      await writeMany(
        pending,
        fresh.map((d) => ({ key: d.id, value: targetKey(d.target) })),
        'pending deliveries',
      );
      return fresh.map((d) => d.id);
    },
    async pending(key) {
      const marks = await entries<string>(pending);
      const ids = marks.filter(([, t]) => key === undefined || t === key).map(([id]) => id);
      const got = await readMany<Delivery>(deliveries, ids);
      return ids.map((id) => got.get(id)).filter((d): d is Delivery => d?.state === 'pending');
    },
    async pendingTargets() {
      return [...new Set((await entries<string>(pending)).map(([, t]) => t))];
    },
    get: (ids) => readMany<Delivery>(deliveries, ids),
    async markSent(ids, info) {
      const done = await update(
        ids,
        (d) => ({ ...d, state: 'sent', messageId: info.messageId, sentAt: info.sentAt }),
        'sent deliveries',
      );
      await deleteMany(pending, ids);
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
      await deleteMany(pending, ids);
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
    async stats(): Promise<OutboxStats> {
      const marks = await entries<string>(pending);
      const counts = (await meta.get<{ sent: number; dropped: number }>('counts')) ?? { sent: 0, dropped: 0 };
      return { pending: marks.length, sent: counts.sent, failed: counts.dropped };
    },
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
  const init = () =>
    (ready ??= pool.query(
      'CREATE TABLE IF NOT EXISTS paperboy_leases (key text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL)',
    ));
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
