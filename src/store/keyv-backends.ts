/**
 * The Keyv backends a store URL can name: SQLite (our adapter), Redis and Postgres (the official
 * adapters). Each backend opens one connection (file, client or pool) and hands out one Keyv per
 * namespace over it.
 */
import { isAbsolute, resolve } from 'node:path';
import { type Deserialize, type DeserializedData, Keyv, type Serialize } from 'keyv';
import { createLocalCoordinator } from './roles.js';
import { KeyvSqliteWasm, SQLITE_MEMORY, type SqliteJsonEntry, SqliteKeyvDatabase } from './sqlite-adapter.js';
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
  /**
   * Postgres: how long one statement may run before the server cancels it (`statement_timeout`).
   * Default 60 s: paperboy's statements take milliseconds, and a statement stuck behind a lock
   * would otherwise hold its connection, and the queries queued behind it, for good.
   */
  statementTimeoutMs?: number;
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
   * {@link keyv} read. Only where it beats Keyv's `setMany`: SQLite (Keyv's per-entry promises
   * and one commit per namespace cost a third of the write rate, measured), Redis and Postgres
   * (how their adapters send a batch was most of a cycle's garbage; ADR 3, stop 13 addendum).
   */
  writeMany?(entries: readonly NamespacedEntry[]): Promise<void>;
  /** The live keys of `namespace` (as Keyv was given them), without reading values, when the backend can. */
  listKeys?(namespace: string): Promise<string[]>;
  /**
   * Deletes the expired entries of `namespace`; how many. Reads skip them already: this gives
   * back their space, where the backend does not expire keys itself (Redis does).
   */
  purgeExpired?(namespace: string): Promise<number>;
}

export interface NamespacedEntry {
  namespace: string;
  key: string;
  value: unknown;
}

/** The key Keyv stores for `key` in `namespace` (it leaves an already-prefixed key alone). */
export function keyvKey(namespace: string, key: string): string {
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

export function keyvOver<Value>(store: unknown, namespace: string, useKeyPrefix: boolean): Keyv<Value> {
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
    // Loaded only for a store that uses them: their clients cost a SQLite process ~15 MB of RSS.
    case 'redis':
      return (await import('./keyv-redis.js')).openRedis(location.url, options);
    case 'postgres':
      return (await import('./keyv-postgres.js')).openPostgres(location.url, options);
  }
}

/**
 * Keyv's stored form of each entry, serialize({ value, expires }) (without a TTL, expires is left
 * out), written by the database straight to bytes as it reads them: no serialized string at all.
 */
function* keyvRows(entries: readonly NamespacedEntry[]): Generator<SqliteJsonEntry> {
  for (const e of entries)
    yield { key: keyvKey(e.namespace, e.key), json: { value: e.value }, expires: null };
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
    listKeys: async (namespace) =>
      database.keys(`${namespace}:`, Date.now()).map((key) => key.slice(namespace.length + 1)),
    purgeExpired: async (namespace) => database.deleteExpired(Date.now(), `${namespace}:`),
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
