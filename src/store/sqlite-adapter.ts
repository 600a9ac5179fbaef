/**
 * A Keyv storage adapter over node-sqlite3-wasm (SQLite compiled to WebAssembly with real file
 * I/O), see docs/adr/0001-sqlite-store.md.
 *
 * One {@link SqliteKeyvDatabase} (the connection, its prepared statements and the file lock) is
 * shared by any number of {@link KeyvSqliteWasm} adapters, one per Keyv namespace. Keyv prefixes
 * keys with `<namespace>:` itself; the adapter stores what it is given, serialized by Keyv.
 */

import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { KeyvEntry, KeyvStoreAdapter, StoredData } from 'keyv';
import sqlite from 'node-sqlite3-wasm';
import { JsonByteWriter } from './json-bytes.js';

const { Database } = sqlite;
type Db = InstanceType<typeof Database>;
type Stmt = ReturnType<Db['prepare']>;

/** The path that opens an in-memory database. */
export const SQLITE_MEMORY = ':memory:';

/** Keys per `WHERE key IN (…)` statement: far below SQLite's bound-parameter limit. */
export const SQLITE_IN_CHUNK = 500;

/** Rows per multi-row upsert statement (2 or 3 bound parameters each). */
export const SQLITE_UPSERT_ROWS = 50;

/** The page size of new files. */
const SQLITE_PAGE_SIZE = 32_768;

/**
 * WAL size that triggers an automatic checkpoint. A checkpoint blocks the writing commit on two
 * fsyncs: at 64 MiB, a 100k-paper cycle checkpointed about ten times, and it ran ~10% faster at
 * 256 MiB (two runs each, on a loaded machine). The bytes written through the files were the
 * same (~630 MB): the time was the waits.
 */
const WAL_CHECKPOINT_BYTES = 256 * 1024 * 1024;

/** What the WAL file is cut back to once checkpointed, so an idle service does not keep its peak on disk. */
const WAL_KEEP_BYTES = 64 * 1024 * 1024;

/** The value buffer is shrunk back to this after a transaction that needed more. */
const VALUE_BUFFER_KEEP = 1 << 20;

/** One row for {@link SqliteKeyvDatabase.setMany}. */
export interface SqliteEntry {
  key: string;
  /** The stored text (Keyv's serialized form). */
  value: string;
  /** Epoch ms, or null for no expiry. */
  expires: number | null;
}

/**
 * A row whose stored text is `JSON.stringify(json)`, written as UTF-8 bytes with no string made
 * on the way ({@link JsonByteWriter}).
 */
export interface SqliteJsonEntry {
  key: string;
  json: unknown;
  expires: number | null;
}

export interface SqliteDatabaseOptions {
  /**
   * Page cache in KiB (`PRAGMA cache_size=-N`). Default 16 MiB: the cache lives in the WebAssembly
   * heap, which never shrinks, and 64 MiB cost the cycle ~50 MB of RSS with no gain in speed
   * (reads of pages not cached come from the OS's file cache; `npm run bench -- --only store`).
   */
  cacheSizeKiB?: number;
  /** WAL size that triggers a checkpoint, in bytes. Default {@link WAL_CHECKPOINT_BYTES}. */
  walCheckpointBytes?: number;
  /** What the WAL file is cut back to once checkpointed, in bytes. Default {@link WAL_KEEP_BYTES}. */
  walKeepBytes?: number;
}

/** Why a SQLite file could not be opened, with what an operator can do about it. */
export class SqliteLockedError extends Error {
  override readonly name = 'SqliteLockedError';
  constructor(
    readonly path: string,
    readonly ownerPid: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      ownerPid === process.pid
        ? `${path} is already open in this process`
        : `${path} is locked by another process${ownerPid === undefined ? '' : ` (pid ${ownerPid})`}: ` +
            `one process per SQLite file; use Redis or Postgres to share a store. If no such process ` +
            `runs, remove ${path}.lock`,
      options,
    );
  }
}

interface Row {
  key: string;
  value: string;
}

/** Files this process holds open, to tell our own lock from a stale one. */
const openHere = new Set<string>();

/** A stale lock directory is only taken over once it is older than this and its owner is gone. */
const STALE_LOCK_MIN_AGE_MS = 10_000;

/**
 * The SQLite connection behind one or more {@link KeyvSqliteWasm} adapters.
 *
 * node-sqlite3-wasm's file system layer has no shared memory, so WAL only works in
 * `locking_mode=EXCLUSIVE`: the connection holds the file (a `<file>.lock` directory) from open
 * to close. That is the ADR's one-process-per-file rule, and it also removes a lock round trip
 * per statement (single gets run ~40× faster than with normal locking). A process killed
 * without closing leaves the lock directory behind; the owner's pid in `<file>.pid` lets the
 * next open tell a stale lock from a live one.
 */
export class SqliteKeyvDatabase {
  readonly path: string;
  private db: Db | undefined;
  private readonly statements = new Map<string, Stmt>();
  /** Where a statement's values are written before they are bound, reused. */
  private values = new JsonByteWriter(VALUE_BUFFER_KEEP);
  private readonly valueEnds: number[] = [];

  private constructor(path: string, db: Db) {
    this.path = path;
    this.db = db;
  }

  /**
   * Opens (creating it and its parent directories when missing) the SQLite file at `path`,
   * relative to the working directory, or {@link SQLITE_MEMORY}.
   */
  static open(path: string, options: SqliteDatabaseOptions = {}): SqliteKeyvDatabase {
    const file = path === SQLITE_MEMORY ? path : resolve(path);
    if (file !== SQLITE_MEMORY) {
      if (openHere.has(file)) throw new SqliteLockedError(file, process.pid);
      mkdirSync(dirname(file), { recursive: true });
    }
    let db: Db;
    try {
      db = configure(new Database(file), file, options);
    } catch (err) {
      if (file === SQLITE_MEMORY || !isLockedError(err)) throw err;
      const owner = readOwner(file);
      if (!isStaleLock(file, owner)) throw new SqliteLockedError(file, owner, { cause: err });
      rmSync(`${file}.lock`, { recursive: true, force: true });
      db = configure(new Database(file), file, options);
    }
    if (file !== SQLITE_MEMORY) {
      writeFileSync(`${file}.pid`, `${process.pid}\n`);
      openHere.add(file);
    }
    return new SqliteKeyvDatabase(file, db);
  }

  get isOpen(): boolean {
    return this.db !== undefined;
  }

  get(key: string, now: number): string | undefined {
    const row = this.stmt('SELECT value FROM keyv WHERE key = ? AND (expires IS NULL OR expires > ?)').get([
      key,
      now,
    ]);
    return row === null ? undefined : (row.value as string);
  }

  /** Values in the order of `keys`; missing and expired keys give `undefined`. */
  getMany(keys: readonly string[], now: number): (string | undefined)[] {
    const found = new Map<string, string>();
    for (let i = 0; i < keys.length; i += SQLITE_IN_CHUNK) {
      const chunk = keys.slice(i, i + SQLITE_IN_CHUNK);
      for (const row of this.inStatement('SELECT key, value', chunk.length).all([...chunk, now])) {
        const { key, value } = row as unknown as Row;
        found.set(key, value);
      }
    }
    return keys.map((key) => found.get(key));
  }

  has(key: string, now: number): boolean {
    return (
      this.stmt('SELECT 1 FROM keyv WHERE key = ? AND (expires IS NULL OR expires > ?)').get([key, now]) !==
      null
    );
  }

  hasMany(keys: readonly string[], now: number): boolean[] {
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += SQLITE_IN_CHUNK) {
      const chunk = keys.slice(i, i + SQLITE_IN_CHUNK);
      for (const row of this.inStatement('SELECT key', chunk.length).all([...chunk, now])) {
        found.add(row.key as string);
      }
    }
    return keys.map((key) => found.has(key));
  }

  /**
   * Upserts all entries in one transaction, in order (the last duplicate of a key wins).
   * `expires` is epoch ms, or null for no expiry. `entries` is read once, lazily: a generator
   * that serializes as it yields keeps only one statement's worth of values alive.
   */
  setMany(entries: Iterable<SqliteEntry | SqliteJsonEntry>): void {
    const chunk: Array<SqliteEntry | SqliteJsonEntry> = [];
    this.transaction(() => {
      for (const entry of entries) {
        chunk.push(entry);
        if (chunk.length === SQLITE_UPSERT_ROWS) {
          this.upsert(chunk);
          chunk.length = 0;
        }
      }
      this.upsert(chunk);
    });
    if (this.values.bytes.length > VALUE_BUFFER_KEEP) this.values = new JsonByteWriter(VALUE_BUFFER_KEEP);
  }

  /**
   * Up to {@link SQLITE_UPSERT_ROWS} rows in one statement: each `run` costs a reset, a step and
   * their WASM boundary crossings, which one multi-row statement pays once.
   */
  private upsert(rows: ReadonlyArray<SqliteEntry | SqliteJsonEntry>): void {
    if (rows.length === 0) return;
    const full = rows.length === SQLITE_UPSERT_ROWS;
    // Without expiries the NULLs are in the SQL: a third fewer values to bind.
    const ttl = rows.some((row) => row.expires !== null);
    const stmt = this.stmt(upsertSql(full ? SQLITE_UPSERT_ROWS : 1, ttl));
    // Values go in as UTF-8 bytes cast to TEXT in SQLite: node-sqlite3-wasm encodes bound strings
    // in a JS loop, Buffer#write does it natively (measured: upserts of 1.5 kB values 34k → 60k/s)
    // and, unlike TextEncoder#encodeInto, without garbage (that made as many bytes as it wrote).
    // All values of a statement are views into one reused buffer, taken once all are written (it
    // may grow meanwhile): the binding copies each into WASM memory at once.
    const values = this.values;
    const ends = this.valueEnds;
    values.reset();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as SqliteEntry | SqliteJsonEntry;
      if ('json' in row) values.write(row.json);
      else values.raw(row.value);
      ends[i] = values.length;
      if (!full) {
        const bytes = values.view(0);
        stmt.run(ttl ? [row.key, bytes, row.expires] : [row.key, bytes]);
        values.reset();
      }
    }
    if (!full) return;
    const params: (string | Uint8Array | number | null)[] = [];
    let at = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as SqliteEntry | SqliteJsonEntry;
      const end = ends[i] as number;
      const bytes = values.view(at, end);
      if (ttl) params.push(row.key, bytes, row.expires);
      else params.push(row.key, bytes);
      at = end;
    }
    stmt.run(params);
  }

  /** Deletes the keys; true when at least one existed. */
  deleteMany(keys: readonly string[]): boolean {
    let changes = 0;
    this.transaction(() => {
      for (let i = 0; i < keys.length; i += SQLITE_IN_CHUNK) {
        const chunk = keys.slice(i, i + SQLITE_IN_CHUNK);
        changes += this.db_().run(
          `DELETE FROM keyv WHERE key IN (${placeholders(chunk.length)})`,
          chunk,
        ).changes;
      }
    });
    return changes > 0;
  }

  /** Deletes every key starting with `prefix` (every key when it is empty). */
  clear(prefix: string): void {
    if (prefix === '') this.db_().run('DELETE FROM keyv');
    else this.db_().run('DELETE FROM keyv WHERE key >= ? AND key < ?', prefixRange(prefix));
  }

  /** Live keys starting with `prefix`. */
  count(prefix: string, now: number): number {
    const row = this.stmt(
      'SELECT count(*) AS n FROM keyv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?)',
    ).get([...prefixRange(prefix), now]);
    return Number(row?.n ?? 0);
  }

  /** The live keys starting with `prefix`, in key order, without reading a value. */
  keys(prefix: string, now: number): string[] {
    const rows = this.stmt(
      'SELECT key FROM keyv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?) ORDER BY key',
    ).all([...prefixRange(prefix), now]);
    return rows.map((r) => String(r.key));
  }

  /** One page of live entries with keys starting with `prefix`, after `afterKey`, in key order. */
  page(prefix: string, afterKey: string | undefined, limit: number, now: number): Row[] {
    const [from, to] = prefixRange(prefix);
    const rows =
      afterKey === undefined
        ? this.stmt(
            'SELECT key, value FROM keyv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?) ' +
              'ORDER BY key LIMIT ?',
          ).all([from, to, now, limit])
        : this.stmt(
            'SELECT key, value FROM keyv WHERE key > ? AND key < ? AND (expires IS NULL OR expires > ?) ' +
              'ORDER BY key LIMIT ?',
          ).all([afterKey, to, now, limit]);
    return rows as unknown as Row[];
  }

  /**
   * Deletes expired rows (those whose keys start with `prefix`, when given); returns how many.
   * Reads never return them, this only reclaims space.
   */
  deleteExpired(now: number, prefix?: string): number {
    if (prefix === undefined)
      return this.db_().run('DELETE FROM keyv WHERE expires IS NOT NULL AND expires <= ?', [now]).changes;
    const [from, to] = prefixRange(prefix);
    return this.db_().run(
      'DELETE FROM keyv WHERE expires IS NOT NULL AND expires <= ? AND key >= ? AND key < ?',
      [now, from, to],
    ).changes;
  }

  /** Round-trips the connection. */
  ping(): void {
    this.db_().get('SELECT 1');
  }

  /** Finalizes the statements and closes the file (a no-op when already closed). */
  close(): void {
    const db = this.db;
    if (db === undefined) return;
    this.db = undefined;
    for (const stmt of this.statements.values()) stmt.finalize();
    this.statements.clear();
    try {
      db.close();
    } finally {
      if (this.path !== SQLITE_MEMORY) {
        openHere.delete(this.path);
        rmSync(`${this.path}.pid`, { force: true });
      }
    }
  }

  private db_(): Db {
    if (this.db === undefined) throw new Error(`SQLite store ${this.path} is closed`);
    return this.db;
  }

  /** Prepared once, finalized on close: preparing costs about as much as running. */
  private stmt(sql: string): Stmt {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db_().prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** `<select> FROM keyv WHERE key IN (?…) AND live`; only the full-chunk shape is kept prepared. */
  private inStatement(
    select: string,
    n: number,
  ): { all(values: (string | number)[]): Record<string, unknown>[] } {
    const sql = `${select} FROM keyv WHERE key IN (${placeholders(n)}) AND (expires IS NULL OR expires > ?)`;
    if (n === SQLITE_IN_CHUNK) return this.stmt(sql);
    return { all: (values) => this.db_().all(sql, values) };
  }

  private transaction(fn: () => void): void {
    const db = this.db_();
    db.exec('BEGIN');
    try {
      fn();
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }
}

function configure(db: Db, file: string, options: SqliteDatabaseOptions): Db {
  try {
    if (file !== SQLITE_MEMORY) {
      // Must precede the first read: a WAL file cannot be opened without shared memory otherwise.
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      // New files only. Papers are ~2 kB rows and every page costs two fs.writeSync calls from
      // WASM into the WAL (frame header, page): 32 KiB pages halve those of 16 KiB ones (putMany
      // +10-20%, measured), while a single-key commit, which writes a table and an index page,
      // stays cheaper than with 64 KiB (naive get+set 15-20k/s at 16 KiB, 7-11k/s at 64 KiB).
      db.exec(`PRAGMA page_size = ${SQLITE_PAGE_SIZE}`);
      db.all('PRAGMA journal_mode = WAL');
      // Checkpoint by WAL size, not page count, whatever the page size of an older file: each
      // checkpoint costs two fsyncs, and pages rewritten by several commits are copied once.
      const pageSize = Number(db.get('PRAGMA page_size')?.page_size ?? SQLITE_PAGE_SIZE);
      const checkpoint = options.walCheckpointBytes ?? WAL_CHECKPOINT_BYTES;
      db.exec(`PRAGMA wal_autocheckpoint = ${Math.max(1, Math.ceil(checkpoint / pageSize))}`);
      db.exec(`PRAGMA journal_size_limit = ${Math.trunc(options.walKeepBytes ?? WAL_KEEP_BYTES)}`);
    }
    db.exec(
      'PRAGMA synchronous = NORMAL;' +
        `PRAGMA cache_size = -${Math.trunc(options.cacheSizeKiB ?? 16_384)};` +
        'PRAGMA temp_store = MEMORY;' +
        'CREATE TABLE IF NOT EXISTS keyv (key TEXT PRIMARY KEY, value TEXT, expires INTEGER);' +
        'CREATE INDEX IF NOT EXISTS keyv_expires ON keyv (expires) WHERE expires IS NOT NULL;',
    );
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function isLockedError(err: unknown): boolean {
  return err instanceof Error && /database is locked/i.test(err.message);
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(`${file}.pid`, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A lock is stale when its recorded owner is gone — or is this very process (a container
 * restarted with the same pid), which has not got it open. Without a pid file, only an old lock
 * counts as stale: a live owner writes its pid right after taking the lock.
 */
function isStaleLock(file: string, owner: number | undefined): boolean {
  if (owner === undefined) {
    const lock = `${file}.lock`;
    return existsSync(lock) && Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MIN_AGE_MS;
  }
  if (owner === process.pid) return !openHere.has(file);
  try {
    process.kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The upsert of `rows` rows, with their expiries bound or as NULLs; built once per shape. */
function upsertSql(rows: number, ttl: boolean): string {
  const cacheKey = ttl ? -rows : rows;
  let sql = upsertSqls.get(cacheKey);
  if (sql === undefined) {
    const row = ttl ? '(?, CAST(? AS TEXT), ?),' : '(?, CAST(? AS TEXT), NULL),';
    sql =
      `INSERT INTO keyv (key, value, expires) VALUES ${row.repeat(rows).slice(0, -1)} ` +
      'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires';
    upsertSqls.set(cacheKey, sql);
  }
  return sql;
}
const upsertSqls = new Map<number, string>();

function placeholders(n: number): string {
  return '?,'.repeat(n).slice(0, -1);
}

/** `[prefix, prefix with its last character incremented]`: a range the primary key index serves. */
function prefixRange(prefix: string): [string, string] {
  if (prefix === '') return ['', '\u{10FFFF}'];
  const last = prefix.charCodeAt(prefix.length - 1);
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)];
}

export interface KeyvSqliteWasmOptions extends SqliteDatabaseOptions {
  /** Rows per page of {@link KeyvSqliteWasm.iterator}. */
  iterationLimit?: number;
}

/**
 * The Keyv storage adapter. Keyv serializes `{ value, expires }` itself and checks `expires` on
 * reads; the adapter keeps `expires` in its own column as well so that `has`, `count`, the
 * iterator and `getMany` skip expired rows without deserializing them.
 */
export class KeyvSqliteWasm extends EventEmitter implements KeyvStoreAdapter {
  /** Keyv reads `dialect` to decide that the adapter can iterate. */
  readonly opts: { dialect: 'sqlite'; url: string; iterationLimit: number };
  /** Set by Keyv to its namespace; `clear()` only clears this namespace. */
  namespace?: string | undefined;
  readonly database: SqliteKeyvDatabase;
  private readonly ownsDatabase: boolean;

  /**
   * @param target a file path (opened and owned by this adapter: `disconnect()` closes it) or an
   *   open {@link SqliteKeyvDatabase} shared with other adapters (closed by its opener).
   */
  constructor(target: string | SqliteKeyvDatabase, options: KeyvSqliteWasmOptions = {}) {
    super();
    this.ownsDatabase = typeof target === 'string';
    this.database = typeof target === 'string' ? SqliteKeyvDatabase.open(target, options) : target;
    this.opts = {
      dialect: 'sqlite',
      url: `sqlite://${this.database.path}`,
      iterationLimit: options.iterationLimit ?? 1000,
    };
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.database.get(key, Date.now()) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return this.database.getMany(keys, Date.now()) as Array<StoredData<Value | undefined>>;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    this.database.setMany([entry({ key, value, ...(ttl === undefined ? {} : { ttl }) })]);
  }

  async setMany(entries: KeyvEntry[]): Promise<void> {
    this.database.setMany(entries.map(entry));
  }

  async delete(key: string): Promise<boolean> {
    return this.database.deleteMany([key]);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    return this.database.deleteMany(keys);
  }

  async has(key: string): Promise<boolean> {
    return this.database.has(key, Date.now());
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return this.database.hasMany(keys, Date.now());
  }

  /** Clears this adapter's namespace, or the whole table when it has none. */
  async clear(): Promise<void> {
    this.database.clear(this.namespace ? `${this.namespace}:` : '');
  }

  /** Live keys in `namespace` (this adapter's namespace by default). */
  async count(namespace: string | undefined = this.namespace): Promise<number> {
    return this.database.count(namespace ? `${namespace}:` : '', Date.now());
  }

  /** Yields `[key, serialized value]` for the live keys of `namespace`, a page at a time, in key order. */
  async *iterator<Value>(
    namespace?: string,
  ): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const prefix = namespace ? `${namespace}:` : '';
    let after: string | undefined;
    for (;;) {
      const rows = this.database.page(prefix, after, this.opts.iterationLimit, Date.now());
      for (const row of rows) yield [row.key, row.value as Awaited<Value>];
      const last = rows.at(-1);
      if (last === undefined || rows.length < this.opts.iterationLimit) return;
      after = last.key;
    }
  }

  /** Closes the database when this adapter opened it; a shared one is closed by its opener. */
  async disconnect(): Promise<void> {
    if (this.ownsDatabase) this.database.close();
  }
}

function entry({ key, value, ttl }: KeyvEntry): { key: string; value: string; expires: number | null } {
  if (typeof value !== 'string') {
    throw new TypeError(`KeyvSqliteWasm stores Keyv-serialized strings; got ${typeof value} for ${key}`);
  }
  return { key, value, expires: typeof ttl === 'number' && ttl > 0 ? Date.now() + ttl : null };
}

/** A Keyv adapter over the SQLite file at `path` (or over an already open, shared database). */
export function createSqliteKeyvAdapter(
  target: string | SqliteKeyvDatabase,
  options: KeyvSqliteWasmOptions = {},
): KeyvSqliteWasm {
  return new KeyvSqliteWasm(target, options);
}
