/**
 * Sharding with the unmodified discord.js client against the emulator, which routes events as
 * Discord does (`shard = (guild_id >> 22) % count`): two paperboy instances on one Redis, one
 * running shard 0 and one shard 1 of 2, each answer only the commands of their own guild and
 * post each digest once; `shards: "auto"` connects the recommended count in one process; and a
 * session Discord refuses (4010, 4011) stops start-up with a reason instead of hanging.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import { Events } from 'discord.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { ingest } from '../../src/pipeline/ingest.js';
import { type Service, startService } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import { type DiscordEmulator, PERMISSIONS, shardOf, startDiscordEmulator } from './emulator.js';

const ROOT = join(import.meta.dirname, '../..');
const SEEDS = { name: 'seeds', type: 'digest' as const, path: join(ROOT, 'seeds') };
const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'paperboy-shards-'));

function config(emulator: DiscordEmulator, storeUrl: string, discord: Record<string, unknown> = {}) {
  return parseConfig(
    {
      store: { url: storeUrl },
      sources: [SEEDS],
      delivery: { threadThreshold: 1000, maxPerDigest: 500, retries: 1, backoffBaseMs: 20 },
      schedule: { runAtStart: false },
      service: { port: 0 },
      discord,
    },
    { DISCORD_TOKEN: emulator.token, DISCORD_API_URL: emulator.apiBase },
  );
}

/** The ids of the interactions a service's client received. */
function interactionsSeenBy(service: Service): string[] {
  const seen: string[] = [];
  service.bot?.client.on(Events.InteractionCreate, (i) => seen.push(i.id));
  return seen;
}

function titlesIn(emulator: DiscordEmulator, channelId: string): string[] {
  return emulator.messages(channelId).flatMap((m) => m.embeds.map((e) => String(e.title)));
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(redisUrl === undefined)('two instances, shard 0 and shard 1 of 2, on one Redis', () => {
  // A database of its own: other suites flush database 0 of the same server.
  const storeUrl = `${redisUrl}/9`;
  let emulator: DiscordEmulator;
  let a: Service;
  let b: Service;
  let seenByA: string[];
  let seenByB: string[];
  let guildA: string;
  let guildB: string;

  beforeAll(async () => {
    const client = createClient({ url: storeUrl });
    await client.connect();
    await client.flushDb();
    await client.close();
    const store = await openStore(storeUrl);
    await ingest([SEEDS], {
      store,
      failingAfter: 3,
      failingBackoffMinutes: 30,
      failingBackoffMaxMinutes: 60,
      concurrency: 1,
    });
    await store.close();
    emulator = await startDiscordEmulator({
      guilds: 2,
      channels: 1,
      channelLimit: { limit: 50, windowMs: 1000 },
    });
    [guildA, guildB] = emulator.guildIds as [string, string];
    // Both start at once, as a fleet does after a deploy.
    [a, b] = await Promise.all([
      startService({
        config: config(emulator, storeUrl, { shards: [0], shardCount: 2 }),
        version: 'test',
        logger: silent,
      }),
      startService({
        config: config(emulator, storeUrl, { shards: [1], shardCount: 2 }),
        version: 'test',
        logger: silent,
      }),
    ]);
    seenByA = interactionsSeenBy(a);
    seenByB = interactionsSeenBy(b);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop('test end'), b?.stop('test end')]);
    await emulator?.close();
  });

  it('puts the two guilds on different shards', () => {
    expect(shardOf(guildA, 2)).toBe(0);
    expect(shardOf(guildB, 2)).toBe(1);
  });

  it('identifies each instance as its own shard, with only the guilds of that shard', () => {
    const accepted = emulator.identifies.filter((i) => i.closedWith === undefined);
    expect(accepted.map((i) => i.shard).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(accepted.find((i) => i.shard?.[0] === 0)?.guilds).toEqual([guildA]);
    expect(accepted.find((i) => i.shard?.[0] === 1)?.guilds).toEqual([guildB]);
    expect([...(a.bot?.client.guilds.cache.keys() ?? [])]).toEqual([guildA]);
    expect([...(b.bot?.client.guilds.cache.keys() ?? [])]).toEqual([guildB]);
    expect(a.bot?.shards()).toEqual({ ids: [0], count: 2 });
    expect(b.bot?.shards()).toEqual({ ids: [1], count: 2 });
    expect(a.bot?.connected()).toBe(true);
    expect(b.bot?.connected()).toBe(true);
    const guildCreates = emulator.dispatches.filter((d) => d.t === 'GUILD_CREATE');
    expect(guildCreates.map((d) => [d.guildId, d.shard[0]]).sort()).toEqual(
      [
        [guildA, 0],
        [guildB, 1],
      ].sort(),
    );
  });

  it('registers the commands from the instance running shard 0 only', () => {
    expect(a.bot?.registration()).toBe('registered');
    expect(b.bot?.registration()).toBe('elsewhere');
    expect(emulator.commandWrites).toBe(1);
    expect(emulator.requests({ path: /^\/applications\/\d+\/commands$/ }).map((r) => r.method)).toEqual([
      'GET',
      'PUT',
    ]);
  });

  it('answers a slash command in each guild once, from the instance running its shard', async () => {
    const cases = [
      { guild: guildA, query: 'multi-task', mine: () => seenByA, other: () => seenByB, service: () => a },
      {
        guild: guildB,
        query: '"mixture of experts"',
        mine: () => seenByB,
        other: () => seenByA,
        service: () => b,
      },
    ];
    for (const c of cases) {
      const channel = emulator.channelsOf(c.guild)[0] as string;
      const sub = emulator.command('subscribe', {
        options: { query: c.query },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      });
      expect(sub.sockets).toBe(1);
      expect((await sub.waitFor((r) => r.kind === 'edit')).content).toContain(`Subscribed <#${channel}>`);
      expect(c.mine()).toContain(sub.id);
      expect(c.other()).not.toContain(sub.id);
      expect(sub.responses().filter((r) => r.kind === 'callback')).toHaveLength(1);
      expect(emulator.dispatches.filter((d) => d.interactionId === sub.id).map((d) => d.shard)).toEqual([
        [shardOf(c.guild, 2), 2],
      ]);

      const status = await emulator.command('status', { channelId: channel }).reply();
      expect(status.data?.content).toContain(
        `Gateway: shard ${shardOf(c.guild, 2)} of 2 on instance ${c.service().instanceId}`,
      );
    }
    expect(emulator.failedInteractions).toBe(0);
  });

  it('posts a digest for a channel of either guild exactly once', async () => {
    const channels = [guildA, guildB].map((g) => emulator.channelsOf(g)[0] as string);
    const backlog = await Promise.all(
      channels.map(async (c) => (await a.store.outbox.pending(`channel:${c}`)).length),
    );
    expect(backlog.every((n) => n > 0)).toBe(true);
    // Both guilds at once: each command reaches one instance, whose cycle delivers every pending
    // channel through REST, so the two instances race for both channels; claims decide.
    const done = await Promise.all(
      channels.map((channelId) =>
        emulator
          .command('digest', { subcommand: 'now', channelId, permissions: PERMISSIONS.manageChannels })
          .waitFor((r) => r.kind === 'edit', 60_000),
      ),
    );
    for (const [i, channel] of channels.entries()) {
      expect(done[i]?.content).toMatch(
        new RegExp(
          `^(Posted ${backlog[i]} papers in \\d+ messages?|Another paperboy instance just posted the new papers here)\\.$`,
        ),
      );
      const titles = titlesIn(emulator, channel);
      expect(titles).toHaveLength(backlog[i] as number);
      expect(new Set(titles).size).toBe(backlog[i]);
    }
    // Both instances' cycles and another request change nothing: every match was posted once.
    await Promise.all([a.cycle(), b.cycle()]);
    const again = await emulator
      .command('digest', {
        subcommand: 'now',
        channelId: channels[1] as string,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit', 30_000);
    expect(again.content).toBe('Nothing new for this channel.');
    for (const [i, channel] of channels.entries())
      expect(titlesIn(emulator, channel)).toHaveLength(backlog[i] as number);
    expect(emulator.requests({ method: 'POST', path: /messages$/ }).filter((r) => r.status >= 400)).toEqual(
      [],
    );
  });

  it('has /digest now wait for another instance posting the same channel, then finish the digest', async () => {
    const channel = emulator.addChannel(guildB);
    const key = `channel:${channel}`;
    await emulator
      .command('subscribe', {
        options: { query: '"mixture of experts"' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit');
    const pending = (await b.store.outbox.pending(key)).length;
    expect(pending).toBeGreaterThan(0);
    // Some other instance holds the channel's claim, as if it were posting there.
    expect(await a.store.coordination.acquire(`claim:target:${key}`, 'another-instance', 60_000)).toBe(true);
    const now = emulator.command('digest', {
      subcommand: 'now',
      channelId: channel,
      permissions: PERMISSIONS.manageChannels,
    });
    await expect
      .poll(() => b.lastCycle()?.deliveries.find((d) => d.target === key)?.outcome, { timeout: 20_000 })
      .toBe('claimed-elsewhere');
    expect(emulator.messages(channel)).toEqual([]);
    await a.store.coordination.release(`claim:target:${key}`, 'another-instance');
    const done = await now.waitFor((r) => r.kind === 'edit', 30_000);
    expect(done.content).toMatch(new RegExp(`^Posted ${pending} papers in \\d+ messages?\\.$`));
    expect(titlesIn(emulator, channel)).toHaveLength(pending);
    expect(seenByA).not.toContain(now.id);
  });
});

describe('shards: "auto"', () => {
  let emulator: DiscordEmulator;

  beforeAll(async () => {
    // One session may hold one guild here, so two guilds need the two shards Discord recommends.
    emulator = await startDiscordEmulator({
      guilds: 2,
      channels: 1,
      recommendedShards: 2,
      maxConcurrency: 2,
      maxGuildsPerShard: 1,
    });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('refuses to start unsharded when Discord requires sharding (4011), and says why', async () => {
    const cfg = config(emulator, `sqlite://${join(dir, 'unsharded.sqlite')}`);
    await expect(startService({ config: cfg, version: 'test', logger: silent })).rejects.toThrow(
      /Sharding is required.*discord\.shards/,
    );
    expect(emulator.identifies.map((i) => i.closedWith)).toEqual([4011]);
  });

  it('asks /gateway/bot, connects the recommended shards and answers commands from guilds on both', async () => {
    const before = emulator.identifies.length;
    const service = await startService({
      config: config(emulator, `sqlite://${join(dir, 'auto.sqlite')}`, { shards: 'auto' }),
      version: 'test',
      logger: silent,
    });
    try {
      expect(emulator.requests({ method: 'GET', path: /^\/gateway\/bot$/ }).length).toBeGreaterThan(0);
      const identifies = emulator.identifies.slice(before);
      expect(identifies.map((i) => i.shard).sort()).toEqual([
        [0, 2],
        [1, 2],
      ]);
      expect(identifies.every((i) => i.closedWith === undefined && i.guilds.length === 1)).toBe(true);
      expect(service.bot?.shards()).toEqual({ ids: [0, 1], count: 2 });
      expect(service.bot?.connected()).toBe(true);
      expect(service.bot?.registration()).toBe('registered');
      expect(service.bot?.client.guilds.cache.size).toBe(2);
      for (const guild of emulator.guildIds) {
        const handle = emulator.command('status', { channelId: emulator.channelsOf(guild)[0] as string });
        expect(handle.sockets).toBe(1);
        expect((await handle.reply()).data?.content).toContain(
          `Gateway: shards 0, 1 of 2 on instance ${service.instanceId}`,
        );
        expect(emulator.dispatches.find((d) => d.interactionId === handle.id)?.shard).toEqual([
          shardOf(guild, 2),
          2,
        ]);
      }
      expect(emulator.failedInteractions).toBe(0);
    } finally {
      await service.stop('test end');
    }
  }, 60_000);
});

describe('a shard Discord refuses', () => {
  it('stops start-up with 4010 Invalid shard instead of waiting for a ready that never comes', async () => {
    // Discord requires 3 shards of this bot; the process was configured for 2.
    const emulator = await startDiscordEmulator({ guilds: 2, requiredShardCount: 3 });
    try {
      const cfg = config(emulator, `sqlite://${join(dir, 'invalid.sqlite')}`, {
        shards: [1],
        shardCount: 2,
      });
      await expect(startService({ config: cfg, version: 'test', logger: silent })).rejects.toThrow(
        /Invalid shard \(shards \[1\] of 2\)/,
      );
      expect(emulator.identifies).toMatchObject([{ shard: [1, 2], closedWith: 4010 }]);
      expect(emulator.connectedShards()).toEqual([]);
    } finally {
      await emulator.close();
    }
  });
});
