/**
 * Two paperboy processes on one real Redis post to the same channels: each channel is claimed by
 * one of them at a time, one is killed mid-digest, and after its claim expires a later run
 * finishes the job — every match is posted exactly once.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@keyv/redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DiscordEmulator, startDiscordEmulator } from './emulator.js';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/paperboy.js');
const run = promisify(execFile);
const redisUrl = inject('redisUrl');
const dir = mkdtempSync(join(tmpdir(), 'paperboy-fleet-'));
const QUERIES = ['multi-task', '"mixture of experts"', 'reinforcement', 'agent*'];
let emulator: DiscordEmulator;
let env: NodeJS.ProcessEnv;

function titlesIn(channelId: string): string[] {
  return emulator.messages(channelId).flatMap((m) => m.embeds.map((e) => String(e.title)));
}

describe.skipIf(redisUrl === undefined)('two instances on one Redis', () => {
  beforeAll(async () => {
    const client = createClient({ url: redisUrl ?? '' });
    await client.connect();
    await client.flushDb();
    await client.close();
    emulator = await startDiscordEmulator({
      channels: QUERIES.length,
      channelLimit: { limit: 50, windowMs: 1000 },
    });
    const configFile = join(dir, 'paperboy.jsonc');
    writeFileSync(
      configFile,
      JSON.stringify({
        sources: [{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }],
        subscriptions: { backfillHours: 0 },
        delivery: {
          threadThreshold: 1000,
          maxPerDigest: 500,
          retries: 1,
          backoffBaseMs: 20,
          claimTtlSeconds: 2,
        },
      }),
    );
    env = {
      PATH: process.env.PATH,
      PAPERBOY_CONFIG: configFile,
      PAPERBOY_STORE_URL: redisUrl,
      DISCORD_TOKEN: emulator.token,
      DISCORD_API_URL: emulator.apiBase,
    };
    for (const [i, q] of QUERIES.entries()) {
      await run(process.execPath, [BIN, 'subs', 'add', `channel:${emulator.channelIds[i]}`, q], {
        cwd: ROOT,
        env,
      });
    }
    // Matches are planned by one cycle; the two instances below only deliver.
    const dry = await run(process.execPath, [BIN, 'once', '--dry-run', '--json'], { cwd: ROOT, env });
    expect(JSON.parse(dry.stdout).digests).toHaveLength(QUERIES.length);
  }, 60_000);

  afterAll(async () => {
    await emulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts every match exactly once although one instance dies mid-digest', async () => {
    const expected = new Map<string, number>();
    const dry = JSON.parse(
      (await run(process.execPath, [BIN, 'once', '--dry-run', '--json'], { cwd: ROOT, env })).stdout,
    );
    for (const d of dry.digests as Array<{ target: string; papers: number }>)
      expected.set(d.target.slice('channel:'.length), d.papers);

    // The first post to the first channel never gets an answer: whoever holds that channel hangs.
    const hung = emulator.channelIds[0] as string;
    emulator.inject({
      method: 'POST',
      path: `/channels/${hung}/messages`,
      action: 'hang',
      after: 1,
      times: 1,
    });
    const spawnOnce = (): { child: ChildProcess; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [BIN, 'once'], { cwd: ROOT, env, stdio: 'ignore' });
      return { child, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
    };
    const a = spawnOnce();
    const b = spawnOnce();
    // One of them finishes; the one stuck on the hanging post is killed.
    const first = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const stuck = first === a ? b : a;
    await expect
      .poll(
        () =>
          emulator
            .requests({ method: 'POST', path: new RegExp(`^/channels/${hung}/messages$`) })
            .some((r) => r.status === 0),
        { timeout: 20_000 },
      )
      .toBe(true);
    stuck.child.kill('SIGKILL');
    await stuck.exited;
    expect(titlesIn(hung).length).toBeLessThan(expected.get(hung) ?? 0);

    // A later run waits for the dead instance's claim to expire, then finishes the digest.
    emulator.clearInjections();
    await new Promise((r) => setTimeout(r, 2_500));
    const last = JSON.parse(
      (await run(process.execPath, [BIN, 'once', '--json'], { cwd: ROOT, env })).stdout,
    );
    expect((last.deliveries as Array<{ pending: number }>).every((d) => d.pending === 0)).toBe(true);

    for (const [channel, count] of expected) {
      const titles = titlesIn(channel);
      expect(titles, channel).toHaveLength(count);
      expect(new Set(titles).size, channel).toBe(count);
    }
  }, 120_000);
});
