/**
 * `paperboy run` stopped as `docker stop` stops it: SIGTERM to the process, which runs against
 * the emulator with the unmodified discord.js client (REST and gateway). It exits within 10 s
 * even while a post hangs, with nothing half-posted (a later run posts every match exactly
 * once); an idle service exits at once rather than when some timer runs out, and so does one
 * still starting while Discord or its store does not answer (ADR 10).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/keyv-store.js';
import { freePort } from '../helpers/http-server.js';
import { type DiscordEmulator, MESSAGE_POSTS, startDiscordEmulator } from './emulator.js';
import { expectPostedOnce } from './posted-once.js';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/paperboy.js');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'paperboy-shutdown-'));
let emulator: DiscordEmulator;

function env(
  runAtStart: boolean,
  { store = 'shutdown', backoffBaseMs = 20 }: { store?: string; backoffBaseMs?: number } = {},
): NodeJS.ProcessEnv {
  const configFile = join(dir, `paperboy-${store}-${runAtStart}.jsonc`);
  writeFileSync(
    configFile,
    JSON.stringify({
      sources: [{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }],
      delivery: { threadThreshold: 10, maxPerDigest: 200, retries: 1, backoffBaseMs },
      // The cycle at start only: no tick of its own in the test's minutes.
      schedule: { runAtStart, ingestCron: '0 0 1 1 *' },
      service: { port: 0 },
    }),
  );
  return {
    PATH: process.env.PATH,
    PAPERBOY_CONFIG: configFile,
    PAPERBOY_STORE_URL: `sqlite://${join(dir, `${store}.sqlite`)}`,
    DISCORD_TOKEN: emulator.token,
    DISCORD_API_URL: emulator.apiBase,
  };
}

beforeAll(async () => {
  emulator = await startDiscordEmulator({ channelLimit: { limit: 50, windowMs: 1000 } });
  // Subscribed before anything is stored: the service's first cycle finds the 143 matches.
  await run(process.execPath, [BIN, 'subs', 'add', `channel:${emulator.channelIds[0]}`, 'multi-task'], {
    cwd: ROOT,
    env: env(true),
  });
}, 60_000);

afterAll(async () => {
  await emulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * `paperboy run` as a child; resolves once it logs `ready` (by default: it listens, so the
 * gateway is up), or, given a number, that many milliseconds after it started.
 */
async function startRun(
  childEnv: NodeJS.ProcessEnv,
  ready: string | number = 'health and metrics listening',
) {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'run'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  if (typeof ready === 'number') await new Promise((r) => setTimeout(r, ready));
  else await expect.poll(() => log.includes(ready), { timeout: 30_000, interval: 50 }).toBe(true);
  return {
    child,
    exited,
    log: () => log,
    /** Sends SIGTERM; resolves with the exit code and the milliseconds the process took to exit. */
    async stop(): Promise<{ code: number | null; ms: number }> {
      const t0 = performance.now();
      child.kill('SIGTERM');
      const code = await exited;
      return { code, ms: performance.now() - t0 };
    },
  };
}

/**
 * `paperboy run` stopped with SIGTERM once it has asked for `posts` posts: it must exit 0 within
 * 10 s, saying it stopped. Returns its log.
 */
async function stopDuringPosts(childEnv: NodeJS.ProcessEnv, posts = 4): Promise<string> {
  // Counted from here: an earlier test's posts are in the emulator's count too.
  const before = emulator.postsRequested();
  const service = await startRun(childEnv);
  try {
    await expect
      .poll(() => emulator.postsRequested() - before, { timeout: 30_000, interval: 50 })
      .toBeGreaterThanOrEqual(posts);
    const { code, ms } = await service.stop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(service.log()).toContain('"msg":"stopped"');
    return service.log();
  } finally {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
  }
}

/**
 * The channel's digest was handed back, not failed: its batches are still open, what was not
 * posted is pending, and no delivery counts an attempt. Returns how many were posted.
 */
async function expectHandedBack(childEnv: NodeJS.ProcessEnv, channel: string): Promise<number> {
  const posted = emulator.titles(channel).length;
  const store = await openStore(childEnv.PAPERBOY_STORE_URL as string);
  try {
    const key = `channel:${channel}`;
    expect((await store.outbox.openBatches(key)).length).toBeGreaterThan(0);
    const pending = await store.outbox.pending(key);
    expect(pending.length).toBe(143 - posted);
    expect(pending.filter((d) => d.attempts > 0 || d.lastError !== undefined)).toEqual([]);
  } finally {
    await store.close();
  }
  return posted;
}

describe('paperboy run on SIGTERM', () => {
  it('exits within 10 s while a post hangs, and a later run posts every match exactly once', async () => {
    const channel = emulator.channelIds[0] as string;
    // From the 4th post on, Discord never answers.
    emulator.inject({ method: 'POST', path: MESSAGE_POSTS, action: 'hang', after: 3 });
    await stopDuringPosts(env(true));
    const before = await expectHandedBack(env(false), channel);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(143);

    emulator.clearInjections();
    const again = await run(process.execPath, [BIN, 'once', '--json'], { cwd: ROOT, env: env(false) });
    const report = JSON.parse(again.stdout) as { deliveries: Array<{ pending: number }> };
    expect(report.deliveries.every((d) => d.pending === 0)).toBe(true);
    expectPostedOnce(emulator, channel, 143);
  }, 90_000);

  it('cuts a wait between retries short: the digest is handed back, not left behind', async () => {
    // Its own store and channel: the 143 matches of the seeds are new to it.
    const channel = emulator.addChannel();
    const childEnv = env(true, { store: 'backoff', backoffBaseMs: 120_000 });
    await run(process.execPath, [BIN, 'subs', 'add', `channel:${channel}`, 'multi-task'], {
      cwd: ROOT,
      env: childEnv,
    });
    // From the 4th post on, Discord answers 503. discord.js tries it once more (`restRetries`),
    // then the delivery waits a minute or two to retry: stopped once it waits.
    emulator.inject({ method: 'POST', path: MESSAGE_POSTS, status: 503, after: 3 });
    const log = await stopDuringPosts(childEnv, 5).finally(() => emulator.clearInjections());
    // The wait ended with the hand-back, so the cycle settled before the store was closed.
    expect(log).toContain('posts still in flight are handed back');
    expect(log).not.toContain('did not hand back in time');
    await expectHandedBack(childEnv, channel);
  }, 90_000);

  it('exits at once when nothing is in flight', async () => {
    const service = await startRun(env(false));
    try {
      const { code, ms } = await service.stop();
      expect(code).toBe(0);
      // Closing the gateway, the store and the search thread: well under a second here. A timer
      // left running (the in-flight wait's) once kept an idle service alive for 8 s.
      expect(ms).toBeLessThan(3_000);
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    }
  }, 60_000);
});

/**
 * `paperboy run` started with `childEnv` against a peer that takes connections and never
 * answers, stopped with SIGTERM once it waits on that peer: it must give the peer up, log
 * `said`, and exit at once (the hard stop alone would end it at 10 s).
 */
async function expectPromptStop(
  listen: (port: number) => { close(): void; closeAllConnections?: () => void },
  childEnv: (port: number) => NodeJS.ProcessEnv,
  ready: string | number,
  said: string,
): Promise<void> {
  const port = await freePort();
  const peer = listen(port);
  const service = await startRun(childEnv(port), ready);
  try {
    const { code, ms } = await service.stop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3_000);
    expect(service.log()).toContain(said);
  } finally {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
    peer.closeAllConnections?.();
    peer.close();
  }
}

describe('paperboy run on SIGTERM while it starts', () => {
  it('gives the login up and exits at once, though Discord never answers', async () => {
    // An HTTP server that never answers: discord.js's login waits out 15 s a try.
    await expectPromptStop(
      (port) => createServer(() => undefined).listen(port, '127.0.0.1'),
      (port) => ({ ...env(false), DISCORD_API_URL: `http://127.0.0.1:${port}/api` }),
      'store opened',
      'stopped while connecting to Discord',
    );
  }, 60_000);

  it('gives the store up and exits at once, though it does not answer', async () => {
    // A Redis that takes the connection and never replies (a server still starting, say).
    await expectPromptStop(
      (port) => createTcpServer(() => undefined).listen(port, '127.0.0.1'),
      (port) => {
        const childEnv: NodeJS.ProcessEnv = {
          ...env(false),
          PAPERBOY_STORE_URL: `redis://127.0.0.1:${port}`,
        };
        delete childEnv.DISCORD_TOKEN;
        return childEnv;
      },
      // It logs nothing until the store is open: given time to be waiting on it.
      1_500,
      'stopped while opening the store',
    );
  }, 60_000);
});
