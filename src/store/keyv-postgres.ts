/**
 * The Postgres backend (the official @keyv/postgres adapter over a pool of the store's own),
 * loaded by `openKeyvBackend` only for a `postgres://` store.
 */
import { createRequire } from 'node:module';
import { KeyvPostgres } from '@keyv/postgres';
import {
  type BackendOptions,
  type KeyvBackend,
  keyvKey,
  keyvOver,
  type NamespacedEntry,
} from './keyv-backends.js';
import { createPostgresCoordinator } from './roles.js';

/** The part of pg's Pool this module uses (pg ships no types; @types/pg is not installed). */
interface PgPool {
  query(sql: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

interface PgClient {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  release(err?: Error): void;
}

/**
 * pg as @keyv/postgres resolves it: the very copy the adapter was built against, whether or not
 * npm hoisted it.
 */
function loadPg(): {
  Pool: new (config: Record<string, unknown>) => PgPool;
  Client: new (config: Record<string, unknown>) => object;
} {
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
    const pattern = namespace ? likePrefix(`${namespace}:`) : '%';
    const rows = await this.query(`SELECT count(*)::int AS n FROM ${QUALIFIED_TABLE} WHERE key LIKE $1`, [
      pattern,
    ]);
    return Number(rows[0]?.n ?? 0);
  }
}

/** A LIKE pattern for the keys starting with `prefix` (its `\`, `%` and `_` taken literally). */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The table every adapter of a store reads and writes, given to @keyv/postgres explicitly (its
 * defaults) so that this module's own statements (`writePostgres`, `listKeys`, `count`) name the
 * same one. The adapter writes it into its SQL unquoted: plain lower-case names only.
 */
const SCHEMA = 'public';
const TABLE = 'keyv';
const QUALIFIED_TABLE = `${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)}`;

/** Rows per INSERT: 4000 parameters, well under Postgres' 65535. */
const WRITE_ROWS = 2000;
const upsertSql = new Map<number, string>();

/** `INSERT … VALUES ($1, $2), … ON CONFLICT …` for `rows` rows into @keyv/postgres' table. */
function upsertFor(rows: number): string {
  let sql = upsertSql.get(rows);
  if (sql === undefined) {
    const values = Array.from({ length: rows }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    sql = `INSERT INTO ${QUALIFIED_TABLE} (key, value) VALUES ${values} ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    upsertSql.set(rows, sql);
  }
  return sql;
}

/**
 * `entries` in one statement, or one transaction of them, into the adapters' table
 * ({@link QUALIFIED_TABLE}) as Keyv stores them: key `<namespace>:<key>`, value `serialize({ value,
 * expires })` without a TTL, `{"value":…}`; each key and value a parameter of its own.
 * @keyv/postgres' `setMany` sends two arrays to UNNEST, and pg writes a JS array as an array
 * literal, escaping every quote of every JSON value with a `replace`: in a 100k-paper cycle that
 * was 1.75 GB of the main thread's 4.7 GB of garbage (sampling heap profiler). The last value
 * for a key wins, as Postgres refuses one key twice in one upsert.
 */
async function writePostgres(pool: PgPool, entries: readonly NamespacedEntry[]): Promise<void> {
  const rows = new Map<string, string>();
  for (const e of entries) rows.set(keyvKey(e.namespace, e.key), JSON.stringify({ value: e.value }));
  if (rows.size === 0) return;
  const params: string[] = [];
  for (const [key, value] of rows) params.push(key, value);
  // One statement is atomic on its own: no transaction, one round trip (most calls are small).
  if (params.length <= 2 * WRITE_ROWS) {
    await pool.query(upsertFor(params.length / 2), params);
    return;
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (let at = 0; at < params.length; at += 2 * WRITE_ROWS) {
      const chunk = params.slice(at, at + 2 * WRITE_ROWS);
      await client.query(upsertFor(chunk.length / 2), chunk);
    }
    await client.query('COMMIT');
    client.release();
  } catch (err) {
    // A connection whose transaction may still be open is not handed to the next caller.
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

export async function openPostgres(url: string, options: BackendOptions): Promise<KeyvBackend> {
  const { Pool, Client } = loadPg();
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const statementTimeoutMs = options.statementTimeoutMs ?? 60_000;
  // The timeout bounds connecting only. Given to the pool, pg-pool also applies it to waiting for
  // a free connection: a burst of more queries than connections (10k subscriptions written at
  // once, on a loaded machine) failed with "timeout exceeded when trying to connect" although
  // every connection was up. Each new connection gets it instead, and a statement timeout: a
  // query now waits for a connection as long as it takes, so none may hold one forever.
  class TimedClient extends Client {
    constructor(config: Record<string, unknown>) {
      super({ ...config, connectionTimeoutMillis: connectTimeoutMs, statement_timeout: statementTimeoutMs });
    }
  }
  const pool = new Pool({
    connectionString: url,
    max: 10,
    Client: TimedClient,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => options.onError?.(err));
  const adapter = (namespace?: string): PooledKeyvPostgres => {
    const store = new PooledKeyvPostgres({
      uri: url,
      pool,
      iterationLimit: 1000,
      schema: SCHEMA,
      table: TABLE,
    });
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
    writeMany: (entries) => writePostgres(pool, entries),
    listKeys: async (namespace) => {
      const prefix = `${namespace}:`;
      const { rows } = await pool.query(`SELECT key FROM ${QUALIFIED_TABLE} WHERE key LIKE $1`, [
        likePrefix(prefix),
      ]);
      return rows.map((r) => String(r.key).slice(prefix.length));
    },
    ping: async () => {
      await pool.query('SELECT 1');
    },
    // Keyv keeps a TTL's expiry in the stored JSON (`{"value":…,"expires":<epoch ms>}`) and only
    // deletes an expired row when it is read.
    purgeExpired: async (namespace) => {
      const { rows } = await pool.query(
        `WITH gone AS (DELETE FROM ${QUALIFIED_TABLE} WHERE key LIKE $1 AND value LIKE '%"expires":%' ` +
          `AND (value::jsonb ->> 'expires')::bigint <= $2 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
        [likePrefix(`${namespace}:`), Date.now()],
      );
      return Number(rows[0]?.n ?? 0);
    },
    close,
  };
}
