/**
 * Answers that wait on a busy search thread are deferred before Discord's 3 s deadline and sent
 * as edits: the unmodified discord.js client against the emulator, which refuses a first answer
 * after 3 s as Discord does. The thread is kept busy with real work — planning tens of thousands
 * of papers, as a large cycle does — and the deadline is lowered so that the test does not
 * depend on how fast this machine plans.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQueries, seedWordCounts, topicWords, zipfPapers } from '../../bench/corpus.js';
import { parseConfig } from '../../src/config.js';
import { type Subscription, subscriptionId, type Target } from '../../src/core/subscription.js';
import { createLogger } from '../../src/observability/logger.js';
import { ingest } from '../../src/pipeline/ingest.js';
import { type Service, startService } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import { type DiscordEmulator, startDiscordEmulator } from './emulator.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
/** Lowered from 1.5 s: a plan below holds the thread for far longer than this on any machine. */
const DEFER_MS = 150;

let emulator: DiscordEmulator;
let service: Service;
const counts = seedWordCounts(SEEDS);
const subs: Subscription[] = generateQueries(2000, topicWords(counts)).map((query, i) => {
  const target: Target = { kind: 'channel', channelId: String(9000 + (i % 50)) };
  return {
    id: subscriptionId(target, query),
    target,
    query,
    createdBy: 'test',
    createdAt: '2026-11-24T00:00:00.000Z',
    mode: 'immediate',
    notifyUpdates: false,
    backfillHours: 0,
  };
});
const papers = [...zipfPapers(20_000, counts, 7)].map((paper) => ({ paper, kind: 'new' as const }));

/** Keeps the search thread planning (and then indexing) `papers`; resolves with how long it took. */
async function holdThread(): Promise<number> {
  const t0 = performance.now();
  await service.library.plan(papers, subs, new Date());
  return performance.now() - t0;
}

beforeAll(async () => {
  emulator = await startDiscordEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-busy-'));
  const url = `sqlite://${join(dir, 'bot.sqlite')}`;
  const store = await openStore(url);
  const config = parseConfig(
    {
      store: { url },
      sources: [{ name: 'seeds', type: 'digest', path: SEEDS }],
      schedule: { runAtStart: false },
      service: { port: 0 },
    },
    { DISCORD_TOKEN: emulator.token, DISCORD_API_URL: emulator.apiBase },
  );
  await ingest([{ name: 'seeds', type: 'digest', path: SEEDS }], { ...config.ingest, store });
  await store.close();
  service = await startService({
    config,
    version: 'test',
    logger: createLogger({ level: 'silent' }),
    deferRepliesAfterMs: DEFER_MS,
  });
  await service.library.count();
}, 60_000);

afterAll(async () => {
  await service?.stop('test end');
  await emulator?.close();
});

describe('answers that wait on a busy search thread', () => {
  // A free thread's answer comes at once (type 4): bot.e2e.test.ts, at the default deadline.
  it('defer /paper search, its page buttons and /digest preview, then edit in the answer', async () => {
    let held = holdThread();
    const search = emulator.command('paper', { subcommand: 'search', options: { query: 'multi-task' } });
    expect((await search.reply()).type).toBe(5);
    const edited = await search.waitFor((r) => r.kind === 'edit', 60_000);
    // The thread indexed the held papers before searching: some of them may match too.
    expect(edited.content).toMatch(/^\*\*\d+\*\* papers match `multi-task` — page 1\//);
    expect(await held).toBeGreaterThan(DEFER_MS);

    const rows = (edited.components ?? []) as Array<{ components: Array<{ custom_id: string }> }>;
    const next = rows[0]?.components[1]?.custom_id ?? '';
    expect(next).toMatch(/^search:[0-9a-f]{12}:1$/);
    held = holdThread();
    const click = emulator.click(next);
    // A deferred update (6): the message keeps its page until the edit brings the next.
    expect((await click.reply()).type).toBe(6);
    expect((await click.waitFor((r) => r.kind === 'edit', 60_000)).content).toMatch(/ — page 2\//);
    await held;

    held = holdThread();
    const preview = emulator.command('digest', {
      subcommand: 'preview',
      options: { query: 'multi-task', days: 3650 },
    });
    expect((await preview.reply()).type).toBe(5);
    expect((await preview.waitFor((r) => r.kind === 'edit', 60_000)).content).toMatch(
      /^`multi-task` matched \*\*\d+\*\* papers first seen in the last 3650 days:/,
    );
    await held;
    expect(emulator.failedInteractions).toBe(0);
  }, 120_000);
});
