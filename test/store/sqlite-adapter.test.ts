import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keyv } from 'keyv';
import sqlite from 'node-sqlite3-wasm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KeyvSqliteWasm,
  SQLITE_UPSERT_ROWS,
  SqliteKeyvDatabase,
  SqliteLockedError,
} from '../../src/store/sqlite-adapter.js';

let dir: string;
const open: { disconnect(): Promise<void> }[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'paperboy-sqlite-adapter-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((a) => a.disconnect()));
  rmSync(dir, { recursive: true, force: true });
});

function adapter(file = join(dir, 'keyv.sqlite'), iterationLimit?: number): KeyvSqliteWasm {
  const a = new KeyvSqliteWasm(file, iterationLimit === undefined ? {} : { iterationLimit });
  open.push(a);
  return a;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('KeyvSqliteWasm as a raw adapter', () => {
  it('gets, sets, checks and deletes a key', async () => {
    const a = adapter();
    await a.set('ns:a', '{"value":1}');
    expect(await a.get('ns:a')).toBe('{"value":1}');
    expect(await a.has('ns:a')).toBe(true);
    expect(await a.delete('ns:a')).toBe(true);
    expect(await a.delete('ns:a')).toBe(false);
    expect(await a.get('ns:a')).toBeUndefined();
    expect(await a.has('ns:a')).toBe(false);
  });

  it('returns getMany values in the order asked, with gaps, across IN chunks', async () => {
    const a = adapter();
    const entries = Array.from({ length: 1203 }, (_, i) => ({ key: `ns:${i}`, value: `v${i}` }));
    await a.setMany(entries);
    const keys = ['ns:missing', ...entries.map((e) => e.key).reverse(), 'ns:also-missing'];
    const values = await a.getMany<string>(keys);
    expect(values).toEqual([undefined, ...entries.map((e) => e.value).reverse(), undefined]);
    expect(await a.hasMany(['ns:0', 'ns:x', 'ns:1202'])).toEqual([true, false, true]);
  });

  it('upserts: setMany overwrites existing keys, the last duplicate wins', async () => {
    const a = adapter();
    await a.setMany([
      { key: 'k', value: 'one' },
      { key: 'k', value: 'two' },
    ]);
    await a.setMany([{ key: 'j', value: 'three' }]);
    expect(await a.getMany(['k', 'j'])).toEqual(['two', 'three']);
  });

  it('writes batches spanning multi-row statements in order, whatever the values', async () => {
    const a = adapter();
    const n = SQLITE_UPSERT_ROWS * 3 + 7;
    const big = `{"value":"${'é🙂x'.repeat(400_000)}"}`; // larger than the reused value buffer
    const entries = Array.from({ length: n }, (_, i) => ({ key: `ns:${i % (n - 20)}`, value: `v${i}·ü` }));
    entries[SQLITE_UPSERT_ROWS + 1] = { key: 'ns:big', value: big };
    entries.push({ key: 'ns:empty', value: '' });
    await a.setMany(entries);
    const last = new Map(entries.map((e) => [e.key, e.value]));
    const keys = [...last.keys()];
    expect(await a.getMany(keys)).toEqual(keys.map((k) => last.get(k)));
    // A duplicate inside one statement and across statements: the later row wins.
    await a.setMany([
      ...Array.from({ length: SQLITE_UPSERT_ROWS - 1 }, (_, i) => ({ key: `d:${i}`, value: 'old' })),
      { key: 'd:0', value: 'same statement' },
      { key: 'd:1', value: 'next statement' },
    ]);
    expect(await a.getMany(['d:0', 'd:1', 'd:2'])).toEqual(['same statement', 'next statement', 'old']);
  });

  it('deleteMany reports whether anything was deleted', async () => {
    const a = adapter();
    await a.setMany([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
    expect(await a.deleteMany(['a', 'zz'])).toBe(true);
    expect(await a.deleteMany(['a', 'zz'])).toBe(false);
    expect(await a.getMany(['a', 'b'])).toEqual([undefined, '2']);
  });

  it('clears its own namespace only, or everything without one', async () => {
    const database = SqliteKeyvDatabase.open(join(dir, 'shared.sqlite'));
    open.push({ disconnect: async () => database.close() });
    const a = new KeyvSqliteWasm(database);
    const ab = new KeyvSqliteWasm(database);
    a.namespace = 'a';
    ab.namespace = 'ab';
    await a.setMany([
      { key: 'a:1', value: 'x' },
      { key: 'a:2', value: 'x' },
      { key: 'ab:1', value: 'y' },
      { key: 'b', value: 'z' },
    ]);
    await a.clear();
    expect(await a.getMany(['a:1', 'a:2', 'ab:1', 'b'])).toEqual([undefined, undefined, 'y', 'z']);
    const all = new KeyvSqliteWasm(database);
    await all.clear();
    expect(await all.count()).toBe(0);
  });

  it('iterates one namespace in key order, a page at a time', async () => {
    const a = adapter(undefined, 3);
    const keys = Array.from({ length: 10 }, (_, i) => `a:${String(i).padStart(2, '0')}`);
    await a.setMany([...keys, 'ab:0', 'a', 'b:0'].map((key) => ({ key, value: key.toUpperCase() })));
    expect(await collect(a.iterator('a'))).toEqual(keys.map((k) => [k, k.toUpperCase()]));
    expect(await collect(a.iterator('none'))).toEqual([]);
    expect(await a.count('a')).toBe(10);
  });

  it('stores only Keyv-serialized strings', async () => {
    await expect(adapter().set('k', { value: 1 })).rejects.toThrow(TypeError);
  });

  it('creates missing parent directories and keeps the data in the file', async () => {
    const file = join(dir, 'deep', 'er', 'keyv.sqlite');
    const a = new KeyvSqliteWasm(file);
    await a.set('k', 'v');
    await a.disconnect();
    expect(existsSync(file)).toBe(true);
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(await adapter(file).get('k')).toBe('v');
  });

  it('leaves a plain SQLite file: WAL, 32 KiB pages, values as TEXT', async () => {
    const file = join(dir, 'plain.sqlite');
    const a = new KeyvSqliteWasm(file);
    await a.setMany([{ key: 'papers:x', value: '{"value":"Ünï"}' }]);
    await a.disconnect();
    const db = new sqlite.Database(file);
    try {
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      expect(db.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(db.get('PRAGMA page_size')).toEqual({ page_size: 32768 });
      expect(db.all('SELECT key, typeof(value) AS type, value, expires FROM keyv')).toEqual([
        { key: 'papers:x', type: 'text', value: '{"value":"Ünï"}', expires: null },
      ]);
    } finally {
      db.close();
    }
  });

  it('checkpoints once the WAL reaches its size, and cuts the file back to what it keeps', async () => {
    const file = join(dir, 'wal.sqlite');
    const walSize = () => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    const db = SqliteKeyvDatabase.open(file, { walCheckpointBytes: 1 << 20, walKeepBytes: 128 << 10 });
    try {
      const value = JSON.stringify({ value: 'x'.repeat(4000) });
      let peak = 0;
      for (let batch = 0; batch < 40; batch++) {
        db.setMany(Array.from({ length: 20 }, (_, i) => ({ key: `k:${batch}:${i}`, value, expires: null })));
        peak = Math.max(peak, walSize());
      }
      // Past 1 MiB the WAL is checkpointed and starts again: it never holds all ~3 MiB written.
      expect(peak).toBeGreaterThan(1 << 20);
      expect(peak).toBeLessThan(2 << 20);
      // The next commit after a checkpoint truncates the file to at most what it keeps.
      expect(walSize()).toBeLessThan(peak);
      expect(db.getMany(['k:0:0', 'k:39:19'], Date.now())).toEqual([value, value]);
    } finally {
      db.close();
    }
  });

  it('works in memory', async () => {
    const a = adapter(':memory:');
    await a.set('k', 'v');
    expect(await a.get('k')).toBe('v');
  });
});

describe('KeyvSqliteWasm under Keyv', () => {
  function entries(k: Keyv): AsyncIterable<unknown> {
    if (k.iterator === undefined) throw new Error('Keyv found the adapter not iterable');
    return k.iterator(k.namespace);
  }

  function keyv(namespace: string, store: KeyvSqliteWasm): Keyv {
    return new Keyv({ store, namespace, throwOnErrors: true });
  }

  it('round-trips values through every Keyv method, per namespace', async () => {
    const database = SqliteKeyvDatabase.open(join(dir, 'keyv.sqlite'));
    open.push({ disconnect: async () => database.close() });
    const papers = keyv('papers', new KeyvSqliteWasm(database));
    const aliases = keyv('aliases', new KeyvSqliteWasm(database));
    await papers.set('x', { title: 'Ünï', n: 1 });
    await aliases.set('x', 'other');
    expect(await papers.get('x')).toEqual({ title: 'Ünï', n: 1 });
    expect(await aliases.get('x')).toBe('other');
    await papers.setMany([
      { key: 'y', value: [1, 2] },
      { key: 'z', value: null },
    ]);
    expect(await papers.getMany(['x', 'y', 'nope'])).toEqual([{ title: 'Ünï', n: 1 }, [1, 2], undefined]);
    expect(await papers.has('y')).toBe(true);
    expect(await papers.delete('y')).toBe(true);
    expect(await papers.has('y')).toBe(false);
    expect(await collect(entries(papers))).toEqual([
      ['x', { title: 'Ünï', n: 1 }],
      ['z', null],
    ]);
    await papers.clear();
    expect(await papers.get('x')).toBeUndefined();
    expect(await aliases.get('x')).toBe('other');
  });

  it('honours TTLs: expired keys vanish from get, getMany, has, count and the iterator', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-11-27T06:00:00Z'));
    const store = adapter();
    const cache = keyv('cache', store);
    await cache.set('short', 's', 1000);
    await cache.setMany([
      { key: 'short2', value: 's2', ttl: 1000 },
      { key: 'long', value: 'l', ttl: 60_000 },
      { key: 'forever', value: 'f' },
    ]);
    expect(await store.count('cache')).toBe(4);
    vi.setSystemTime(new Date('2024-11-27T06:00:01.500Z'));
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.getMany(['short2', 'long', 'forever'])).toEqual([undefined, 'l', 'f']);
    expect(await cache.has('short2')).toBe(false);
    expect(await store.has('cache:short2')).toBe(false);
    expect(await store.count('cache')).toBe(2);
    expect(store.database.keys('cache:', Date.now())).toEqual(['cache:forever', 'cache:long']);
    expect(await collect(entries(cache))).toEqual([
      ['forever', 'f'],
      ['long', 'l'],
    ]);
    vi.setSystemTime(new Date('2024-11-27T06:02:00Z'));
    expect(store.database.deleteExpired(Date.now())).toBe(3);
    expect(await cache.get('forever')).toBe('f');
  });
});

describe('the SQLite file lock', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid);
    }
  });

  /** Runs a script against the adapter in another Node process. */
  function child(file: string, mode: 'hold' | 'crash' | 'killed'): Promise<ChildProcess> {
    const script = join(dir, `${mode}.ts`);
    const adapterPath = resolve('src/store/sqlite-adapter.ts');
    writeFileSync(
      script,
      `import { SqliteKeyvDatabase } from ${JSON.stringify(adapterPath)};
const db = SqliteKeyvDatabase.open(${JSON.stringify(file)});
db.setMany([{ key: 'k', value: 'from child', expires: null }]);
if (${JSON.stringify(mode)} === 'killed') {
  // Enough committed transactions to pass an automatic checkpoint, then one more.
  const value = 'x'.repeat(1000);
  for (let t = 0; t < 20; t++) db.setMany(Array.from({ length: 5000 }, (_, i) => ({ key: 't' + t + ':' + i, value, expires: null })));
  db.setMany([{ key: 'last', value: 'committed', expires: null }]);
}
console.log('ready');
if (${JSON.stringify(mode)} === 'crash') process.exit(0); // without closing: the lock stays behind
else setInterval(() => {}, 1000);
`,
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(proc);
    return new Promise((resolve, reject) => {
      proc.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(proc));
      proc.once('exit', (code) =>
        mode === 'crash' ? resolve(proc) : reject(new Error(`child exited ${code}`)),
      );
    });
  }

  it('refuses a second open of the same file in this process', () => {
    const file = join(dir, 'keyv.sqlite');
    adapter(file);
    expect(() => new KeyvSqliteWasm(file)).toThrow(/already open in this process/);
  });

  it('refuses a file another live process holds, naming its pid', async () => {
    const file = join(dir, 'keyv.sqlite');
    const holder = await child(file, 'hold');
    let error: unknown;
    try {
      new KeyvSqliteWasm(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SqliteLockedError);
    expect((error as SqliteLockedError).ownerPid).toBe(holder.pid);
    expect((error as Error).message).toMatch(/one process per SQLite file/);
  });

  it('keeps every committed transaction of a process killed with SIGKILL', async () => {
    const file = join(dir, 'keyv.sqlite');
    const killed = await child(file, 'killed');
    const exited = new Promise((r) => killed.once('exit', r));
    killed.kill('SIGKILL');
    await exited;
    const a = adapter(file);
    expect(await a.get('last')).toBe('committed');
    expect(await a.get('k')).toBe('from child');
    expect(await a.count('t19')).toBe(5000);
  }, 30_000);

  it('takes over the lock of a process that died without closing, keeping its writes', async () => {
    const file = join(dir, 'keyv.sqlite');
    const crashed = await child(file, 'crash');
    await new Promise((r) => (crashed.exitCode === null ? crashed.once('exit', r) : r(undefined)));
    expect(existsSync(`${file}.lock`)).toBe(true);
    expect(await adapter(file).get('k')).toBe('from child');
  });
});
