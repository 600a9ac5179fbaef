/**
 * Delivery survives a crash: `paperboy once` runs as a child process against the emulator, is
 * killed with SIGKILL while a post hangs (after Discord already accepted an earlier one whose
 * answer was lost), and a second run posts every match exactly once.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordEmulator, MESSAGE_POSTS, startDiscordEmulator } from './emulator.js';
import { expectPostedOnce } from './posted-once.js';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/paperboy.js');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'paperboy-crash-'));
let emulator: DiscordEmulator;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  emulator = await startDiscordEmulator({ channelLimit: { limit: 50, windowMs: 1000 } });
  const configFile = join(dir, 'paperboy.jsonc');
  writeFileSync(
    configFile,
    JSON.stringify({
      sources: [{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }],
      delivery: { threadThreshold: 10, maxPerDigest: 200, retries: 1, backoffBaseMs: 20 },
    }),
  );
  env = {
    PATH: process.env.PATH,
    PAPERBOY_CONFIG: configFile,
    PAPERBOY_STORE_URL: `sqlite://${join(dir, 'crash.sqlite')}`,
    DISCORD_TOKEN: emulator.token,
    DISCORD_API_URL: emulator.apiBase,
  };
  await run(process.execPath, [BIN, 'ingest'], { cwd: ROOT, env });
  await run(process.execPath, [BIN, 'subs', 'add', `channel:${emulator.channelIds[0]}`, 'multi-task'], {
    cwd: ROOT,
    env,
  });
}, 60_000);

afterAll(async () => {
  await emulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a crash in the middle of a digest', () => {
  it('posts every match exactly once after a restart', async () => {
    const channel = emulator.channelIds[0] as string;
    // The 4th post is created but its answer is lost; from the 7th on, posts hang.
    emulator.inject({ method: 'POST', path: MESSAGE_POSTS, action: 'create-then-drop', after: 3, times: 1 });
    emulator.inject({ method: 'POST', path: MESSAGE_POSTS, action: 'hang', after: 6 });
    const child: ChildProcess = spawn(process.execPath, [BIN, 'once'], { cwd: ROOT, env, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await expect
        .poll(() => emulator.postsRequested(), { timeout: 30_000, interval: 50 })
        .toBeGreaterThanOrEqual(8);
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const before = emulator.titles(channel).length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(143);

    emulator.clearInjections();
    const again = await run(process.execPath, [BIN, 'once', '--json'], { cwd: ROOT, env });
    const report = JSON.parse(again.stdout) as { deliveries: Array<{ outcome: string; pending: number }> };
    expect(report.deliveries.every((d) => d.pending === 0)).toBe(true);

    // The post whose answer was lost was sent again with its nonce: Discord returned the first one.
    expectPostedOnce(emulator, channel, 143);

    const third = await run(process.execPath, [BIN, 'once', '--json'], { cwd: ROOT, env });
    expect(JSON.parse(third.stdout).deliveries).toEqual([]);
    expect(emulator.titles(channel)).toHaveLength(143);
  }, 90_000);
});
