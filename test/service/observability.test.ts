import { afterEach, describe, expect, it } from 'vitest';
import { type HealthReport, type HealthServer, startHealthServer } from '../../src/observability/http.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { answersWithin, HEALTH_PING_TIMEOUT_MS } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import { captureLogs } from '../helpers/log-lines.js';

const TOKEN = 'MTMwMDAwMDAwMDAwMDAwMDAwMA.GhIjKl.abcdefghijklmnopqrstuvwxyz012345';

describe('logs', () => {
  it('never print the bot token, webhook URLs or interaction tokens', () => {
    const { lines, logger } = captureLogs();
    logger.info(`logging in with ${TOKEN}`);
    logger.info(
      { token: TOKEN, config: { discord: { token: TOKEN } }, headers: { authorization: `Bot ${TOKEN}` } },
      'config',
    );
    const err = new Error(
      `PATCH https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpsb25nX3Rva2Vu/messages/@original failed with ${TOKEN}`,
    );
    logger.error({ err }, 'request failed');
    logger.warn({ url: 'https://discord.com/api/webhooks/1234567890/abcdefSECRETtokenvalue' }, 'webhook');
    logger.info({ path: '/interactions/99/interaction-token-secret-value/callback' }, 'callback');
    const out = lines.join('');
    expect(lines).toHaveLength(5);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain('abcdefSECRETtokenvalue');
    expect(out).not.toContain('aW50ZXJhY3Rpb246');
    expect(out).not.toContain('interaction-token-secret-value');
    expect(out).toContain('webhooks/123/[redacted]');
    expect(JSON.parse(lines[2] as string).err.stack).toContain('Error: PATCH');
  });
});

describe('/healthz and /metrics', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  async function start(report: HealthReport, now = () => new Date('2026-11-22T12:00:00Z')) {
    const metrics = createMetrics();
    metrics.recordCycle({
      papersNew: 3,
      papersUpdated: 1,
      matches: 2,
      durationSeconds: 1.5,
      sourcesFailing: 1,
      finishedAt: new Date('2026-11-22T11:59:00Z'),
    });
    metrics.invalidRequest(403);
    metrics.searchIndexPapers(544);
    server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      health: async () => report,
      maxCycleAgeSeconds: 600,
      now,
    });
    return server;
  }

  it('reports healthy with the last cycle age, and the counters in Prometheus format', async () => {
    const s = await start({
      store: 'ok',
      gateway: 'connected',
      lastCycleAt: new Date('2026-11-22T11:59:00Z'),
    });
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      lastCycleAgeSeconds: 60,
      gateway: 'connected',
    });
    const metrics = await fetch(`${s.url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('paperboy_papers_total{kind="new"} 3');
    expect(text).toContain('paperboy_discord_invalid_requests_total{status="403"} 1');
    expect(text).toContain('paperboy_cycle_duration_seconds_count 1');
    expect(text).toContain('paperboy_search_index_papers 544');
    // The process's own, for memory over months.
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    expect((await fetch(`${s.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 503 with the reasons when the store is down or the last cycle is too old', async () => {
    const s = await start({
      store: 'unreachable',
      gateway: 'disconnected',
      lastCycleAt: new Date('2026-11-22T10:00:00Z'),
    });
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { problems: string[] }).problems).toEqual([
      'store unreachable',
      'Discord gateway disconnected',
      'last cycle 7200 s ago',
    ]);
  });

  it('listens on the loopback address it was given', async () => {
    const s = await start({ store: 'ok', gateway: 'not-configured', lastCycleAt: undefined });
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe("/healthz's store ping", () => {
  it('answers for a store that answers, and gives up on one that does not, in time', async () => {
    const store = await openStore('sqlite://:memory:');
    try {
      expect(await answersWithin(() => store.ping(), HEALTH_PING_TIMEOUT_MS)).toBe(true);
    } finally {
      await store.close();
    }
    const started = performance.now();
    expect(await answersWithin(() => new Promise(() => undefined), 100)).toBe(false);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(2000);
    expect(await answersWithin(() => Promise.reject(new Error('refused')), 1000)).toBe(false);
  });
});
