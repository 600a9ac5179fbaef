import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { openStore } from '../../src/store/keyv-store.js';
import { runRolesContract } from '../contracts/roles-contract.js';
import { fullPaper, runStoreContract } from '../contracts/store-contract.js';

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
    async () => openStore(await freshDatabase()),
    (first) => openStore(first.url),
  );

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
});
