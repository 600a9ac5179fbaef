/**
 * Delivery against the Discord emulator: one digest to each of N channels through discord.js's
 * REST client, with Discord's limits enforced (5 messages per 5 s per channel, 50 requests per
 * second in all): wall time against the minimum those limits allow, and 429s received. Then
 * `/paper search` reply latency through the gateway with the full service.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REST } from 'discord.js';
import { parseConfig } from '../src/config.js';
import type { Paper } from '../src/core/paper.js';
import { deliveryId, subscriptionId, type Target } from '../src/core/subscription.js';
import { createRestPort } from '../src/discord/rest-port.js';
import { deliverAll, deliveryOptions } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { startService } from '../src/service.js';
import { openStore } from '../src/store/keyv-store.js';
import { PERMISSIONS, startDiscordEmulator } from '../test/discord/emulator.js';

export interface DiscordBench {
  channels: number;
  wallMs: number;
  minimumMs: number;
  rateLimited: number;
  searchP50Ms: number;
  searchP99Ms: number;
}

export async function benchDiscord(channels: number): Promise<DiscordBench> {
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-bench-discord-'));
  const emulator = await startDiscordEmulator({ channels });
  try {
    const store = await openStore(`sqlite://${join(dir, 'd.sqlite')}`);
    const paper: Paper = {
      id: 'arxiv:2411.17700',
      arxivId: '2411.17700',
      title: 'A paper for everyone',
      abstract: 'We propose a benchmark.',
      authors: ['A. Author'],
      categories: ['cs.LG'],
      links: { abs: 'https://arxiv.org/abs/2411.17700', code: [] },
      sources: ['bench'],
      firstSeen: new Date().toISOString(),
    };
    await store.papers.putMany([paper], new Map());
    const targets: Target[] = emulator.channelIds.map((id) => ({ kind: 'channel', channelId: id }));
    // Each channel subscribed: a delivery whose subscriptions are all gone is dropped, not posted.
    for (const target of targets)
      await store.subscriptions.put({
        id: subscriptionId(target, 'benchmark'),
        target,
        query: 'benchmark',
        createdBy: 'bench',
        createdAt: new Date().toISOString(),
        mode: 'immediate',
        notifyUpdates: false,
        backfillHours: 0,
      });
    await store.outbox.enqueue(
      targets.map((target) => ({
        id: deliveryId(target, paper.id),
        target,
        paperId: paper.id,
        subscriptionIds: [subscriptionId(target, 'benchmark')],
        score: 1,
        terms: [],
        kind: 'new' as const,
        createdAt: new Date().toISOString(),
        state: 'pending' as const,
        attempts: 0,
      })),
    );
    const config = parseConfig({}, {});
    const rest = new REST({ api: emulator.apiBase }).setToken(emulator.token);
    const t0 = performance.now();
    await deliverAll(targets, deliveryOptions(config, store, createRestPort(rest), 'bench'), 64);
    const wallMs = performance.now() - t0;
    const posted = emulator.allMessages().length;
    if (posted !== channels) throw new Error(`posted ${posted} of ${channels}`);
    await store.close();
    const rateLimited = emulator.rateLimited;

    // /paper search through the gateway: the service answers from its in-memory index.
    const service = await startService({
      config: parseConfig(
        {
          store: { url: `sqlite://${join(dir, 's.sqlite')}` },
          sources: [{ name: 'seeds', type: 'digest', path: join(import.meta.dirname, '../seeds') }],
          service: { port: 0 },
        },
        { DISCORD_TOKEN: emulator.token, DISCORD_API_URL: emulator.apiBase },
      ),
      version: 'bench',
      logger: createLogger({ level: 'silent' }),
    });
    await service.cycle();
    const words = [
      'multi-task',
      '"mixture of experts"',
      'agent*',
      'diffusion -survey',
      'title:learning',
      'reinforcement OR robot*',
    ];
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s = performance.now();
      await emulator
        .command('paper', {
          subcommand: 'search',
          options: { query: words[i % words.length] as string },
          channelId: emulator.channelIds[0] as string,
          permissions: PERMISSIONS.member,
        })
        .reply();
      lat.push(performance.now() - s);
    }
    await service.stop('bench');
    lat.sort((a, b) => a - b);
    return {
      channels,
      wallMs,
      // Fixed one-second windows of 50 requests: the last window starts after ceil(N/50) - 1 s.
      minimumMs: (Math.ceil(channels / 50) - 1) * 1000,
      rateLimited,
      searchP50Ms: lat[Math.floor(lat.length * 0.5)] as number,
      searchP99Ms: lat[Math.floor(lat.length * 0.99)] as number,
    };
  } finally {
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
