/**
 * The Postgres backend (the official @keyv/postgres adapter over a pool of the store's own),
 * loaded by `openKeyvBackend` only for a `postgres://` store.
 */
import { createRequire } from 'node:module';
import { KeyvPostgres } from '@keyv/postgres';
import { type BackendOptions, type KeyvBackend, keyvOver } from './keyv-backends.js';
import { createPostgresCoordinator } from './roles.js';

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

export async function openPostgres(url: string, options: BackendOptions): Promise<KeyvBackend> {
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
