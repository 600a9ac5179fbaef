/**
 * The Keyv backends a store URL can name: SQLite (our adapter), Redis and Postgres (the official
 * adapters). Each backend opens one connection (file, client or pool) and hands out one Keyv per
 * namespace over it.
 */
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { KeyvPostgres } from '@keyv/postgres';
import KeyvRedis, { createClient } from '@keyv/redis';
import { type Deserialize, type DeserializedData, Keyv, type Serialize } from 'keyv';
import {
  createLocalCoordinator,
  createPostgresCoordinator,
  createRedisCoordinator,
  type RedisLike,
} from './roles.js';
import { KeyvSqliteWasm, SQLITE_MEMORY, type SqliteEntry, SqliteKeyvDatabase } from './sqlite-adapter.js';
import type { Coordinator } from './types.js';

/** Where a store URL points. SQLite paths are absolute (or {@link SQLITE_MEMORY}). */
export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'redis'; url: string }
  | { kind: 'postgres'; url: string };

export const SUPPORTED_STORE_SCHEMES = ['sqlite://', 'redis://', 'rediss://', 'postgres://', 'postgresql://'];

export class UnsupportedStoreUrlError extends Error {
  override readonly name = 'UnsupportedStoreUrlError';
  constructor(readonly url: string) {
    super(`unsupported store URL "${redactUrl(url)}": use one of ${SUPPORTED_STORE_SCHEMES.join(', ')}`);
  }
}

/**
 * Reads a store URL. `sqlite://data/paperboy.sqlite` is relative to `cwd`,
 * `sqlite:///var/lib/paperboy.sqlite` absolute, `sqlite://:memory:` in memory; Redis and Postgres
 * URLs are passed to their clients as they are.
 */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): StoreLocation {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      const path = url.slice('sqlite://'.length);
      if (path === '' || path.endsWith('/')) throw new UnsupportedStoreUrlError(url);
      if (path === SQLITE_MEMORY) return { kind: 'sqlite', path };
      return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
    }
    case 'redis':
    case 'rediss':
      return { kind: 'redis', url };
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', url };
    default:
      throw new UnsupportedStoreUrlError(url);
  }
}

/** A URL with its password hidden (`redis://:secret@host` → `redis://:***@host`). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

export interface BackendOptions {
  /** Connection errors the clients report in the background (reconnects, dropped idle connections). */
  onError?: (error: unknown) => void;
  /** Redis and Postgres: how long connecting may take. Default 5 s. */
  connectTimeoutMs?: number;
}

/** One open connection and the Keyvs over it. */
export interface KeyvBackend {
  /** A new Keyv for `namespace`, over this backend's connection. */
  keyv<Value>(namespace: string): Keyv<Value>;
  /** Round-trips the backend; rejects when it is unreachable. */
  ping(): Promise<void>;
  /** Closes the connection; later calls do nothing. */
  close(): Promise<void>;
  /** Atomic leases for every process on this backend. */
  readonly coordinator: Coordinator;
  /**
   * Writes entries of several namespaces in one transaction, in exactly the format the Keyvs of
   * {@link keyv} read. Only where it beats Keyv's `setMany` (SQLite: Keyv's per-entry promises
   * and one commit per namespace cost a third of the write rate, measured).
   */
  writeMany?(entries: readonly NamespacedEntry[]): Promise<void>;
}

export interface NamespacedEntry {
  namespace: string;
  key: string;
  value: unknown;
}

/** The key Keyv stores for `key` in `namespace` (it leaves an already-prefixed key alone). */
function keyvKey(namespace: string, key: string): string {
  return key.startsWith(`${namespace}:`) ? key : `${namespace}:${key}`;
}

/**
 * Values are plain JSON (papers, source state). Keyv's default serializer walks values in JS to
 * escape `:`-prefixed strings and Buffers; JSON.stringify/parse is ~7× faster on a paper
 * (measured: 160k vs 23k serializations/s) and would be the bottleneck of every batched write.
 * Data written this way must keep being read this way: strings are not escaped.
 */
const serialize: Serialize = (data) => JSON.stringify(data);
const deserialize: Deserialize = <Value>(text: string) => JSON.parse(text) as DeserializedData<Value>;

function keyvOver<Value>(store: unknown, namespace: string, useKeyPrefix: boolean): Keyv<Value> {
  // Errors must reach the caller: by default Keyv turns a failed write into `false` and an event.
  return new Keyv<Value>({ store, namespace, useKeyPrefix, serialize, deserialize, throwOnErrors: true });
}

export async function openKeyvBackend(
  location: StoreLocation,
  options: BackendOptions = {},
): Promise<KeyvBackend> {
  switch (location.kind) {
    case 'sqlite':
      return openSqlite(location.path);
    case 'redis':
      return openRedis(location.url, options);
    case 'postgres':
      return openPostgres(location.url, options);
  }
}

/**
 * Keyv's stored form of each entry, serialize({ value, expires }) (without a TTL, expires is left
 * out), made as the database reads it: a batch never holds all its serialized papers at once,
 * which kept megabytes of strings alive through young-generation collections.
 */
function* keyvRows(entries: readonly NamespacedEntry[]): Generator<SqliteEntry> {
  for (const e of entries) {
    yield { key: keyvKey(e.namespace, e.key), value: JSON.stringify({ value: e.value }), expires: null };
  }
}

function openSqlite(path: string): KeyvBackend {
  const database = SqliteKeyvDatabase.open(path);
  return {
    keyv: (namespace) => keyvOver(new KeyvSqliteWasm(database), namespace, true),
    // The file is locked by this process alone: no other process can contend for a lease.
    coordinator: createLocalCoordinator(),
    ping: async () => database.ping(),
    close: async () => database.close(),
    writeMany: async (entries) => database.setMany(keyvRows(entries)),
  };
}

type RedisClient = ReturnType<typeof createClient>;

/**
 * The official adapter plus a count, and an iterator that pages by 1000: the stock one SCANs
 * with Redis' default COUNT of 10, two round trips per ~10 papers (measured over 100k papers:
 * 12k/s against 60k/s for `getMany`), and yields `null` for a key deleted between SCAN and MGET,
 * which Keyv then fails to deserialize.
 */
class PagedKeyvRedis extends KeyvRedis<string> {
  constructor(
    private readonly redis: RedisClient,
    namespace: string,
  ) {
    super(redis, { namespace, throwOnErrors: true });
  }

  private async *keyPages(namespace: string | undefined): AsyncGenerator<string[]> {
    const match = namespace ? `${namespace}${this.keyPrefixSeparator}*` : '*';
    let cursor = '0';
    do {
      const page = await this.redis.scan(cursor, { MATCH: match, COUNT: 1000, TYPE: 'string' });
      cursor = String(page.cursor);
      // Without a namespace, only keys outside every namespace (as the stock iterator does).
      yield namespace ? page.keys : page.keys.filter((key) => !key.includes(this.keyPrefixSeparator));
    } while (cursor !== '0');
  }

  override async *iterator<U = string>(namespace?: string): AsyncGenerator<[string, U | undefined], void> {
    const skip = namespace ? namespace.length + this.keyPrefixSeparator.length : 0;
    for await (const keys of this.keyPages(namespace)) {
      if (keys.length === 0) continue;
      const values = await this.redis.mGet(keys);
      for (const [i, key] of keys.entries()) {
        const value = values[i];
        if (value !== null && value !== undefined) yield [key.slice(skip), value as U];
      }
    }
  }

  async count(namespace = this.namespace): Promise<number> {
    let n = 0;
    for await (const keys of this.keyPages(namespace)) n += keys.length;
    return n;
  }
}

async function openRedis(url: string, options: BackendOptions): Promise<KeyvBackend> {
  let connected = false;
  const client: RedisClient = createClient({
    url,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Fail the first connect fast; once up, keep reconnecting (commands wait in the offline queue).
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(100 * 2 ** retries, 2000) : retries >= 2 ? cause : 200,
    },
  });
  client.on('error', (err: unknown) => options.onError?.(err));
  // Each Keyv namespace's adapter listens for errors on the one shared client.
  client.setMaxListeners(32);
  try {
    await client.connect();
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw err;
  }
  connected = true;
  return {
    // @keyv/redis prefixes keys itself (`papers::<key>`), so Keyv must not.
    keyv: (namespace) => keyvOver(new PagedKeyvRedis(client, namespace), namespace, false),
    coordinator: createRedisCoordinator(client as unknown as RedisLike),
    ping: async () => {
      await client.ping();
    },
    close: async () => {
      if (client.isOpen) await client.close();
    },
  };
}

/** The part of pg's Pool this module uses (pg ships no types; @types/pg is not installed). */
interface PgPool {
  query(sql: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * pg as @keyv/postgres resolves it: the very copy the adapter was built against, whether or not
 * npm hoisted it.
 */
function loadPg(): { Pool: new (config: Record<string, unknown>) => PgPool } {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@keyv/postgres'))('pg');
}

/**
 * The official adapter over a pool this store owns. Out of the box @keyv/postgres keeps one
 * module-global pool per process (a second URL silently replaces it; `disconnect()` ends it
 * under every other adapter) and never listens for the pool's `error` event, which pg emits when
 * an idle connection drops — an uncaught exception in a long-running bot.
 */
class PooledKeyvPostgres extends KeyvPostgres {
  override async connect(): Promise<(sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>> {
    const pool = (this.opts as { pool: PgPool }).pool;
    return async (sql, values) => (await pool.query(sql, values)).rows;
  }

  /** The pool belongs to the store that opened it. */
  override async disconnect(): Promise<void> {}

  async count(namespace = this.namespace): Promise<number> {
    const pattern = namespace ? `${namespace.replace(/[\\%_]/g, '\\$&')}:%` : '%';
    const table = `${quoteIdent(this.opts.schema ?? 'public')}.${quoteIdent(this.opts.table ?? 'keyv')}`;
    const rows = await this.query(`SELECT count(*)::int AS n FROM ${table} WHERE key LIKE $1`, [pattern]);
    return Number(rows[0]?.n ?? 0);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function openPostgres(url: string, options: BackendOptions): Promise<KeyvBackend> {
  const { Pool } = loadPg();
  const pool = new Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => options.onError?.(err));
  const adapter = (namespace?: string): PooledKeyvPostgres => {
    const store = new PooledKeyvPostgres({ uri: url, pool, iterationLimit: 1000 });
    if (namespace !== undefined) store.namespace = namespace;
    // Background failures (the CREATE TABLE at construction) are emitted; unhandled they would throw.
    store.on('error', (err: unknown) => options.onError?.(err));
    return store;
  };
  // One adapter creates the table before the others exist: concurrent CREATE TABLE IF NOT EXISTS
  // statements can collide on Postgres' catalog.
  const probe = adapter();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await pool.end();
  };
  try {
    await probe.query('SELECT 1');
  } catch (err) {
    await close();
    throw err;
  }
  return {
    keyv: (namespace) => keyvOver(adapter(namespace), namespace, true),
    coordinator: createPostgresCoordinator(pool),
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close,
  };
}

/** An adapter that can count a namespace without reading values. */
interface CountingAdapter {
  count(namespace?: string): Promise<number>;
}

function isCounting(store: unknown): store is CountingAdapter {
  return typeof (store as Partial<CountingAdapter> | undefined)?.count === 'function';
}

/**
 * Live keys in `keyv`'s namespace: a key-only count on the backends above, else a walk over the
 * Keyv iterator.
 */
export async function countKeys(keyv: Keyv): Promise<number> {
  const store: unknown = keyv.store;
  if (isCounting(store)) return store.count(keyv.namespace);
  if (keyv.iterator === undefined) throw new Error('this Keyv store can neither count nor iterate');
  let n = 0;
  for await (const _ of keyv.iterator(keyv.namespace)) n++;
  return n;
}
