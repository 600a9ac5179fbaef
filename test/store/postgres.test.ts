import { execFile } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { openKeyvBackend, parseStoreUrl } from '../../src/store/keyv-backends.js';
import { openStore } from '../../src/store/keyv-store.js';
import { runRolesContract } from '../contracts/roles-contract.js';
import { fullPaper, runStoreContract } from '../contracts/store-contract.js';
import { STORED_FORM_SAMPLES, sampleKey, writeSamplesViaKeyv } from '../helpers/stored-form.js';

const run = promisify(execFile);
const url = inject('postgresUrl');
const binDir = inject('postgresBinDir');

describe.skipIf(url === undefined || binDir === undefined)('postgres', () => {
  const server = new URL(url ?? 'postgres://localhost');
  const client = (name: string) => join(binDir ?? '', name);
  const conn = ['-h', server.hostname, '-p', server.port, '-U', 'postgres'];
  let n = 0;

  /** An empty database on the test server, per store: Postgres has no cheaper fresh start. */
  async function freshDatabase(): Promise<string> {
    const name = `contract_${process.pid}_${++n}`;
    await run(client('createdb'), [...conn, name]);
    return `postgres://postgres@${server.host}/${name}`;
  }

  runStoreContract('postgres', async () => openStore(await freshDatabase()), openStore);
  runRolesContract(
    'postgres',
    async (opts) => openStore(await freshDatabase(), opts),
    (first) => openStore(first.url),
  );

  it('writes many entries in one transaction as Keyv would, byte for byte, the last of a key winning', async () => {
    const dbUrl = await freshDatabase();
    const backend = await openKeyvBackend(parseStoreUrl(dbUrl));
    const psql = async (sql: string) =>
      (await run(client('psql'), [...conn, '-d', new URL(dbUrl).pathname.slice(1), '-At', '-c', sql])).stdout;
    try {
      const values = STORED_FORM_SAMPLES;
      await writeSamplesViaKeyv(backend, 'cmpkeyv');
      if (!backend.writeMany) throw new Error('the Postgres backend writes directly');
      // More rows than one statement takes, and one key twice.
      const many = Array.from({ length: 4500 }, (_, i) => ({
        namespace: 'bulk',
        key: `b${i}`,
        value: { i },
      }));
      await backend.writeMany([
        ...values.map((value, i) => ({
          namespace: 'cmpdirect',
          key: sampleKey(i),
          value: i === 1 ? 'first' : value,
        })),
        ...many,
        { namespace: 'cmpdirect', key: 'k1%3A', value: values[1] },
      ]);
      const stored = async (prefix: string) =>
        (
          await psql(
            `SELECT substr(key, ${prefix.length + 1}) || ' ' || value FROM keyv WHERE key LIKE '${prefix}%' ORDER BY key`,
          )
        )
          .trim()
          .split('\n');
      expect(await stored('cmpdirect:')).toEqual(await stored('cmpkeyv:'));
      const direct = backend.keyv<unknown>('cmpdirect');
      for (const [i, v] of values.entries()) expect(await direct.get(sampleKey(i))).toEqual(v);
      expect((await psql(`SELECT count(*) FROM keyv WHERE key LIKE 'bulk:%'`)).trim()).toBe('4500');
      expect(await backend.keyv<unknown>('bulk').get('b4499')).toEqual({ i: 4499 });
      // Keys listed without values; `_` and `%` in a namespace are literal, not LIKE wildcards.
      if (!backend.listKeys) throw new Error('the Postgres backend lists keys');
      expect((await backend.listKeys('cmpdirect')).sort()).toEqual(values.map((_, i) => sampleKey(i)).sort());
      await backend.writeMany([
        { namespace: 'a_b', key: 'one', value: 1 },
        { namespace: 'axb', key: 'two', value: 2 },
        { namespace: 'a%', key: 'three', value: 3 },
      ]);
      expect(await backend.listKeys('a_b')).toEqual(['one']);
      expect(await backend.listKeys('a%')).toEqual(['three']);
      // A refused row (a key longer than the table allows) rolls the whole call back.
      const bad = [
        { namespace: 'tx', key: 'ok', value: 1 },
        ...Array.from({ length: 2500 }, (_, i) => ({ namespace: 'tx', key: `n${i}`, value: i })),
        { namespace: 'tx', key: 'x'.repeat(300), value: 2 },
      ];
      await expect(backend.writeMany(bad)).rejects.toThrow();
      expect((await psql(`SELECT count(*) FROM keyv WHERE key LIKE 'tx:%'`)).trim()).toBe('0');
      // The pool goes on serving.
      await backend.writeMany([{ namespace: 'tx', key: 'after', value: 3 }]);
      expect(await backend.keyv<unknown>('tx').get('after')).toBe(3);
    } finally {
      await backend.close();
    }
  });

  it('serves two stores on different databases at the same time', async () => {
    const [a, b] = await Promise.all([openStore(await freshDatabase()), openStore(await freshDatabase())]);
    try {
      await a.papers.putMany([fullPaper(1)], new Map());
      await b.papers.putMany([fullPaper(2), fullPaper(3)], new Map());
      await a.close();
      expect(await b.papers.count()).toBe(2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('survives the server dropping its idle connections', async () => {
    const errors: unknown[] = [];
    const dbUrl = await freshDatabase();
    const store = await openStore(dbUrl, { onError: (e) => errors.push(e) });
    try {
      await store.papers.putMany([fullPaper(1)], new Map());
      const db = new URL(dbUrl).pathname.slice(1);
      const { stdout } = await run(client('psql'), [
        ...conn,
        '-d',
        'postgres',
        '-At',
        '-c',
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}'`,
      ]);
      // Each dropped idle connection is reported (not thrown) once pg notices; then the pool is clean.
      const dropped = stdout.split('\n').filter((line) => line === 't').length;
      expect(dropped).toBeGreaterThan(0);
      await expect.poll(() => errors.length).toBeGreaterThanOrEqual(dropped);
      expect(await store.papers.count()).toBe(1);
    } finally {
      await store.close();
    }
  });
  it('lets an operation wait for a free connection longer than connecting may take, cancels a statement that runs too long, and gives up connecting in time', async () => {
    const backend = await openKeyvBackend(parseStoreUrl(await freshDatabase()), { connectTimeoutMs: 500 });
    const keyv = backend.keyv<number>('burst');
    const adapter = keyv.opts.store as unknown as { query(sql: string): Promise<unknown> };
    try {
      // All ten of the pool's connections opened, then held by queries that outlast the timeout.
      await Promise.all(Array.from({ length: 10 }, () => adapter.query('SELECT pg_sleep(0.05)')));
      const held = Array.from({ length: 10 }, () => adapter.query('SELECT pg_sleep(1.2)'));
      const started = performance.now();
      await Promise.all(Array.from({ length: 20 }, (_, i) => keyv.set(`k${i}`, i)));
      expect(performance.now() - started).toBeGreaterThan(500);
      await Promise.all(held);
      expect(await keyv.get('k19')).toBe(19);
    } finally {
      await backend.close();
    }

    // A statement that outruns the statement timeout is cancelled by the server, and its
    // connection serves the next query.
    const strict = await openKeyvBackend(parseStoreUrl(await freshDatabase()), { statementTimeoutMs: 200 });
    const strictAdapter = strict.keyv<number>('strict').opts.store as unknown as {
      query(sql: string): Promise<unknown>;
    };
    try {
      await expect(strictAdapter.query('SELECT pg_sleep(2)')).rejects.toThrow(/statement timeout/);
      await strict.keyv<number>('strict').set('after', 1);
      expect(await strict.keyv<number>('strict').get('after')).toBe(1);
    } finally {
      await strict.close();
    }

    // A server that accepts and never answers: opening gives up after the timeout.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = performance.now();
      await expect(
        openStore(`postgres://postgres@127.0.0.1:${port}/none`, { connectTimeoutMs: 300 }),
      ).rejects.toThrow(/could not be opened|timeout/i);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });
});
