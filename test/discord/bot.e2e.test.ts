/**
 * paperboy's service with the unmodified discord.js client, against the Discord emulator on
 * 127.0.0.1: login, command registration, slash commands, digests, refusals and rate limits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { escapeMarkdown } from '../../src/core/message.js';
import { parseQuery } from '../../src/core/query/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { PaperLibrary } from '../../src/pipeline/library.js';
import { type Service, startService } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import { type DiscordEmulator, PERMISSIONS, startDiscordEmulator } from './emulator.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'paperboy-e2e-'));
const storeUrl = `sqlite://${join(dir, 'bot.sqlite')}`;

function config(emulator: DiscordEmulator) {
  return parseConfig(
    {
      store: { url: storeUrl },
      sources: [{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }],
      delivery: { threadThreshold: 10, maxPerDigest: 200, retries: 2, backoffBaseMs: 20 },
      schedule: { runAtStart: false },
      service: { port: 0 },
    },
    { DISCORD_TOKEN: emulator.token, DISCORD_API_URL: emulator.apiBase },
  );
}

const silent = createLogger({ level: 'silent' });
let emulator: DiscordEmulator;
let service: Service;
let expectedTitles: string[];

async function start(): Promise<Service> {
  return startService({ config: config(emulator), version: 'test', logger: silent });
}

/** Every embed title posted in a channel and the threads opened from its messages. */
function postedTitles(channelId: string): string[] {
  const titles: string[] = [];
  for (const m of emulator.messages(channelId)) {
    for (const e of m.embeds) titles.push(String(e.title));
    if (m.thread)
      for (const t of emulator.messages(m.thread.id)) for (const e of t.embeds) titles.push(String(e.title));
  }
  return titles;
}

beforeAll(async () => {
  emulator = await startDiscordEmulator({ channelLimit: { limit: 50, windowMs: 1000 } });
  // The seeds, and the papers the matching engine says `multi-task` matches.
  const store = await openStore(storeUrl);
  const { ingest } = await import('../../src/pipeline/ingest.js');
  await ingest([{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }], {
    store,
    failingAfter: 3,
    failingBackoffMinutes: 30,
    failingBackoffMaxMinutes: 60,
    concurrency: 1,
  });
  const library = await PaperLibrary.load(store);
  const q = parseQuery('multi-task');
  if (!q.ok) throw new Error('query');
  const hits = (await library.search(q.query, { limit: 1000 })).hits;
  expectedTitles = (await library.papers(hits.map((h) => h.paperId))).map((p) =>
    escapeMarkdown(p.title.replace(/\s+/g, ' ').trim()),
  );
  await store.close();
  service = await start();
}, 60_000);

afterAll(async () => {
  await service?.stop('test end');
  await emulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('paperboy on Discord (emulated)', () => {
  it('logs in with the Guilds intent and registers its commands once', async () => {
    expect(service.bot?.connected()).toBe(true);
    expect(emulator.commandWrites).toBe(1);
    expect(emulator.commands.global.map((c) => (c as { name: string }).name).sort()).toEqual([
      'digest',
      'paper',
      'status',
      'subscribe',
      'subscriptions',
      'unsubscribe',
    ]);
    const identify = emulator.requests({ method: 'GET', path: /^\/gateway\/bot$/ });
    expect(identify.length).toBeGreaterThan(0);
  });

  it('resumes its session when Discord drops the gateway, and is healthy and answering again', async () => {
    const channel = emulator.channelIds[0] as string;
    const health = async () => (await fetch(`${service.health.url}/healthz`)).status;
    expect(await health()).toBe(200);
    const identifies = emulator.identifies.length;
    emulator.dropGateway(4000);
    // Resumed, not identified anew: Discord limits identifies a day, and a resume loses no events.
    await expect.poll(() => emulator.resumes.filter((r) => r.resumed).length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => service.bot?.connected(), { timeout: 10_000 }).toBe(true);
    expect(emulator.identifies.length).toBe(identifies);
    expect(await health()).toBe(200);
    const search = await emulator
      .command('paper', { subcommand: 'search', options: { query: 'multi-task' }, channelId: channel })
      .reply();
    expect(search.data?.content).toMatch(/^\*\*143\*\* papers match `multi-task`/);
  });

  it('identifies anew when Discord cannot resume its session', async () => {
    const identifies = emulator.identifies.length;
    const refused = emulator.resumes.filter((r) => !r.resumed).length;
    emulator.dropGateway(4000, { forgetSessions: true });
    await expect
      .poll(() => emulator.resumes.filter((r) => !r.resumed).length, { timeout: 20_000 })
      .toBe(refused + 1);
    // discord.js waits 1–5 s after an Invalid Session before it identifies, as Discord asks.
    await expect.poll(() => emulator.identifies.length, { timeout: 20_000 }).toBe(identifies + 1);
    await expect.poll(() => service.bot?.connected(), { timeout: 10_000 }).toBe(true);
    expect((await fetch(`${service.health.url}/healthz`)).status).toBe(200);
  }, 40_000);

  it('answers 503 on /healthz while the gateway is down, and 200 once it is back', async () => {
    const health = async () => {
      const res = await fetch(`${service.health.url}/healthz`);
      return { status: res.status, body: (await res.json()) as { gateway?: string; problems?: string[] } };
    };
    emulator.refuseGateway(true);
    emulator.dropGateway(4000);
    try {
      await expect.poll(async () => (await health()).status, { timeout: 10_000 }).toBe(503);
      const down = await health();
      expect(down.body.problems?.join(' ')).toMatch(/gateway/i);
    } finally {
      emulator.refuseGateway(false);
    }
    await expect.poll(async () => (await health()).status, { timeout: 30_000, interval: 200 }).toBe(200);
    expect(service.bot?.connected()).toBe(true);
  }, 60_000);

  it('refuses a channel subscription without Manage Channels, and explains a bad filter', async () => {
    const channel = emulator.channelIds[0] as string;
    const denied = await emulator
      .command('subscribe', {
        options: { query: 'multi-task' },
        channelId: channel,
        permissions: PERMISSIONS.member,
      })
      .reply();
    expect(denied.type).toBe(4);
    expect(denied.data?.content).toContain('Manage Channels');
    expect(denied.data?.flags).toBe(64);
    const bad = await emulator
      .command('subscribe', {
        options: { query: 'title:"unclosed' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .reply();
    expect(bad.data?.content).toContain('unclosed quote at column 7');
    expect(String(bad.data?.content)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('subscribes a channel, previews matches, and posts every match exactly once in a thread', async () => {
    const channel = emulator.channelIds[0] as string;
    const sub = emulator.command('subscribe', {
      options: { query: 'multi-task' },
      channelId: channel,
      permissions: PERMISSIONS.manageChannels,
    });
    const edit = await sub.waitFor((r) => r.kind === 'edit');
    expect(edit.content).toContain('would have matched **143** papers');

    const now = emulator.command('digest', {
      subcommand: 'now',
      channelId: channel,
      permissions: PERMISSIONS.manageChannels,
    });
    const done = await now.waitFor((r) => r.kind === 'edit', 60_000);
    // A header message that opens the thread, then 15 messages of at most 10 embeds.
    expect(done.content).toBe('Posted 143 papers in 16 messages.');
    const header = emulator.messages(channel);
    expect(header).toHaveLength(1);
    expect(header[0]?.content).toMatch(/^📰 143 new papers for multi-task — \d{4}-\d{2}-\d{2}$/);
    expect(header[0]?.thread).toBeDefined();
    const titles = postedTitles(channel);
    expect(titles).toHaveLength(143);
    expect(new Set(titles)).toEqual(new Set(expectedTitles));
    for (const m of emulator.messages(header[0]?.thread?.id as string)) {
      expect(m.embeds.length).toBeLessThanOrEqual(10);
      expect(m.allowed_mentions).toEqual({ parse: [] });
    }
    expect(emulator.requests({ method: 'POST', path: /messages$/ }).filter((r) => r.status === 400)).toEqual(
      [],
    );

    const again = emulator.command('digest', {
      subcommand: 'now',
      channelId: channel,
      permissions: PERMISSIONS.manageChannels,
    });
    expect((await again.waitFor((r) => r.kind === 'edit', 30_000)).content).toBe(
      'Nothing new for this channel.',
    );
    expect(postedTitles(channel)).toHaveLength(143);
  });

  it('searches with pages, shows a paper, and explains a match', async () => {
    const channel = emulator.channelIds[0] as string;
    const search = await emulator
      .command('paper', { subcommand: 'search', options: { query: 'multi-task' }, channelId: channel })
      .reply();
    expect(search.data?.content).toMatch(/^\*\*143\*\* papers match `multi-task` — page 1\/15/);
    const rows = (search.data?.components ?? []) as Array<{ components: Array<{ custom_id: string }> }>;
    const next = rows[0]?.components[1]?.custom_id ?? '';
    expect(next).toMatch(/^search:[0-9a-f]{12}:1$/);
    const page2 = await emulator.click(next, { channelId: channel }).reply();
    expect(page2.type).toBe(7);
    expect(page2.data?.content).toContain('page 2/15');

    const show = await emulator
      .command('paper', {
        subcommand: 'show',
        options: { id: 'Gradient Surgery for Multi-Task Learning' },
        channelId: channel,
      })
      .reply();
    const shown = (show.data?.embeds ?? []) as Array<{ title: string }>;
    expect(shown[0]?.title).toBe('Gradient Surgery for Multi-Task Learning');
    const why = await emulator
      .command('paper', {
        subcommand: 'why',
        options: { paper: 'Gradient Surgery for Multi-Task Learning' },
        channelId: channel,
      })
      .reply();
    expect(why.data?.content).toContain('✅ `multi-task`');
  });

  it('offers subscriptions to unsubscribe by autocomplete and removes one', async () => {
    const channel = emulator.channelIds[0] as string;
    const choices = await emulator
      .autocomplete('unsubscribe', 'subscription', 'multi', {
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .reply();
    expect(choices.type).toBe(8);
    const list = choices.data?.choices as Array<{ name: string; value: string }>;
    expect(list.map((c) => c.name)).toEqual(['multi-task (this channel)']);
    const removed = await emulator
      .command('unsubscribe', {
        options: { subscription: list[0]?.value ?? '' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .reply();
    expect(removed.data?.content).toBe('Unsubscribed this channel from `multi-task`.');
    const subs = await emulator.command('subscriptions', { channelId: channel }).reply();
    expect(subs.data?.content).toContain('No subscriptions here yet');
  });

  it('pauses a channel that refuses posts (403), keeps its matches, and resumes when asked', async () => {
    const channel = emulator.addChannel();
    await emulator
      .command('subscribe', {
        options: { query: '"mixture of experts"' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit');
    emulator.setCanSend(channel, false);
    const before = emulator.invalidRequests;
    const now = await emulator
      .command('digest', { subcommand: 'now', channelId: channel, permissions: PERMISSIONS.manageChannels })
      .waitFor((r) => r.kind === 'edit', 30_000);
    expect(now.content).toContain('Posting here failed: Missing Permissions');
    // One refused request, not a retry loop.
    expect(emulator.invalidRequests - before).toBe(1);
    const subs = await emulator.command('subscriptions', { channelId: channel }).reply();
    expect(subs.data?.content).toContain('⏸ paused');
    expect((await service.store.outbox.pending(`channel:${channel}`)).length).toBe(14);

    emulator.setCanSend(channel, true);
    const resumed = await emulator
      .command('digest', {
        subcommand: 'resume',
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit', 30_000);
    expect(resumed.content).toBe('Posted 14 papers in 3 messages.');
    expect(postedTitles(channel)).toHaveLength(14);
  });

  it('waits out a storm of 429s without losing or doubling a post', async () => {
    const channel = emulator.addChannel();
    await emulator
      .command('subscribe', {
        options: { query: '"mixture of experts"' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit');
    emulator.inject({
      method: 'POST',
      path: new RegExp(`^/channels/(${channel}|\\d+)/messages$`),
      status: 429,
      retryAfter: 0.3,
      times: 4,
    });
    const done = await emulator
      .command('digest', { subcommand: 'now', channelId: channel, permissions: PERMISSIONS.manageChannels })
      .waitFor((r) => r.kind === 'edit', 30_000);
    expect(done.content).toBe('Posted 14 papers in 3 messages.');
    expect(postedTitles(channel)).toHaveLength(14);
    expect(new Set(postedTitles(channel)).size).toBe(14);
    emulator.clearInjections();
  });

  it('delivers a personal subscription by direct message', async () => {
    const sub = emulator.command('subscribe', {
      options: { query: '"mixture of experts"', for: 'me' },
      userId: '777',
      channelId: emulator.channelIds[1] as string,
    });
    expect((await sub.waitFor((r) => r.kind === 'edit')).content).toContain(
      'Subscribed you (by direct message)',
    );
    await service.cycle();
    const dm = emulator.dmChannelOf('777');
    expect(dm).toBeDefined();
    const titles = emulator.messages(dm as string).flatMap((m) => m.embeds.map((e) => e.title));
    expect(titles).toHaveLength(14);
  });

  it('does not register unchanged commands again after a restart', async () => {
    await service.stop('restart');
    service = await start();
    expect(emulator.commandWrites).toBe(1);
    const status = await emulator.command('status', { channelId: emulator.channelIds[0] as string }).reply();
    expect(status.data?.content).toContain('Outbox:');
    expect(emulator.failedInteractions).toBe(0);
  });

  it('retries 5xx with backoff and posts once', async () => {
    const channel = emulator.addChannel();
    await emulator
      .command('subscribe', {
        options: { query: '"mixture of experts"' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit');
    emulator.inject({ method: 'POST', path: /^\/channels\/\d+\/messages$/, status: 502, times: 3 });
    const done = await emulator
      .command('digest', { subcommand: 'now', channelId: channel, permissions: PERMISSIONS.manageChannels })
      .waitFor((r) => r.kind === 'edit', 30_000);
    expect(done.content).toBe('Posted 14 papers in 3 messages.');
    expect(postedTitles(channel)).toHaveLength(14);
    expect(
      emulator.requests({ method: 'POST', path: /messages$/ }).filter((r) => r.status === 502),
    ).toHaveLength(3);
    emulator.clearInjections();
  });

  it('pauses a deleted channel (404 Unknown Channel) instead of dropping its matches', async () => {
    const channel = emulator.addChannel();
    await emulator
      .command('subscribe', {
        options: { query: '"mixture of experts"' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .waitFor((r) => r.kind === 'edit');
    emulator.deleteChannel(channel);
    await service.cycle();
    const subs = await service.store.subscriptions.listByTarget(`channel:${channel}`);
    expect(subs[0]?.paused).toMatchObject({ code: 10003 });
    expect(subs[0]?.paused?.reason).toContain('Unknown Channel');
    expect(await service.store.outbox.pending(`channel:${channel}`)).toHaveLength(14);
  });

  it('sets a daily schedule in a timezone, and refuses a bad one', async () => {
    const channel = emulator.channelIds[2] as string;
    const ok = await emulator
      .command('digest', {
        subcommand: 'schedule',
        options: { mode: 'daily', time: '08:30', timezone: 'Europe/Berlin' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .reply();
    expect(ok.data?.content).toBe('This channel now gets one digest a day at **08:30 Europe/Berlin**.');
    expect(await service.store.targets.get(`channel:${channel}`)).toMatchObject({
      mode: 'daily',
      time: '08:30',
      timezone: 'Europe/Berlin',
    });
    const bad = await emulator
      .command('digest', {
        subcommand: 'schedule',
        options: { mode: 'daily', timezone: 'Mars/Olympus' },
        channelId: channel,
        permissions: PERMISSIONS.manageChannels,
      })
      .reply();
    expect(bad.data?.content).toContain('is not an IANA timezone');
  });
});

describe('a wrong token', () => {
  it('stops the service at start-up with a clear reason', async () => {
    const wrong = await startDiscordEmulator();
    const reasons: string[] = [];
    try {
      const cfg = parseConfig(
        {
          store: { url: `sqlite://${join(dir, 'wrong.sqlite')}` },
          sources: [{ name: 'seeds', type: 'digest', path: join(ROOT, 'seeds') }],
          schedule: { runAtStart: false },
          service: { port: 0 },
        },
        {
          DISCORD_TOKEN: 'MTIzNDU2Nzg5MDEyMzQ1Njc4.wrong.token-that-discord-rejects-xx',
          DISCORD_API_URL: wrong.apiBase,
        },
      );
      await expect(
        startService({ config: cfg, version: 'test', logger: silent, onFatal: (r) => reasons.push(r) }),
      ).rejects.toThrow();
      expect(reasons.join(' ')).toMatch(/token/i);
      expect(wrong.invalidRequests).toBeGreaterThan(0);
    } finally {
      await wrong.close();
    }
  });
});
