/**
 * Real Redis and PostgreSQL servers for tests and benchmarks: started from the installed
 * binaries on free 127.0.0.1 ports in temporary directories, stopped by pid.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RunningServer {
  readonly url: string;
  readonly pid: number;
  /** Stops the process (and waits for it to exit) and removes its directory. */
  stop(): Promise<void>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function findRedisServer(): string | undefined {
  return onPath('redis-server');
}

/** The newest `/usr/lib/postgresql/<major>/bin` (Debian's layout), else `initdb`'s directory on PATH. */
export function findPostgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const major of majors) {
    const bin = join(root, major, 'bin');
    if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
  }
  const initdb = onPath('initdb');
  return initdb === undefined ? undefined : join(initdb, '..');
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitFor(what: string, child: ChildProcess, log: string, ready: () => Promise<boolean>) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(log)}`,
      );
    }
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`${what} was not ready within 15 s:\n${tail(log)}`);
}

/** Sends `signal` to the child, waits for it to exit (SIGKILL after 10 s). */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, signal);
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function started(child: ChildProcess, url: string, dir: string, signal: NodeJS.Signals): RunningServer {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start a server for ${url}`);
  // A crashed or interrupted test run must not leave servers behind.
  const onExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  return {
    url,
    pid,
    stop: () => {
      stopping ??= stopChild(child, signal).finally(() => {
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      });
      return stopping;
    },
  };
}

async function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** An empty, non-persistent redis-server on a free port. */
export async function startRedis(bin: string): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-redis-'));
  const port = await freePort();
  const log = join(dir, 'redis.log');
  const out = openSync(log, 'a');
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  const child = spawn(bin, args, { stdio: ['ignore', out, out], cwd: dir });
  const server = started(child, `redis://127.0.0.1:${port}`, dir, 'SIGTERM');
  try {
    await waitFor('redis-server', child, log, () => pingRedis(port));
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Postgres refuses to run as root: as root, run its binaries as the `postgres` user. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export interface PostgresOptions {
  /** Durable writes as in production (for benchmarks). Tests turn fsync off. Default false. */
  durable?: boolean;
  /** The database to create. Default `paperboy`. */
  database?: string;
}

export interface RunningPostgres extends RunningServer {
  readonly binDir: string;
  readonly port: number;
  /** Creates another empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
}

/** A fresh cluster (`initdb`) with a database, served on a free port. */
export async function startPostgres(binDir: string, options: PostgresOptions = {}): Promise<RunningPostgres> {
  const owner = await postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const as = { cwd: dir, ...(owner ?? {}) };
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  try {
    await run(
      join(binDir, 'initdb'),
      [
        '-D',
        data,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      as,
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const port = await freePort();
  const args = ['-D', data, '-k', dir, '-h', '127.0.0.1', '-p', String(port)];
  if (!options.durable)
    args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const out = openSync(log, 'a');
  if (owner) chownSync(log, owner.uid, owner.gid);
  const child = spawn(join(binDir, 'postgres'), args, { ...as, stdio: ['ignore', out, out] });
  const base = `postgres://postgres@127.0.0.1:${port}`;
  // SIGINT is Postgres' fast shutdown: it disconnects clients instead of waiting for them.
  const server = started(child, base, dir, 'SIGINT');
  const createDatabase = async (name: string): Promise<string> => {
    await run(join(binDir, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name], as);
    return `${base}/${name}`;
  };
  try {
    await waitFor('postgres', child, log, async () => {
      try {
        await run(join(binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], as);
        return true;
      } catch {
        return false;
      }
    });
    const url = await createDatabase(options.database ?? 'paperboy');
    return { ...server, url, stop: server.stop, binDir, port, createDatabase };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
