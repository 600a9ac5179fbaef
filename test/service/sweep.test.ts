/**
 * The service sweeps the outbox of records a stopped pass wrote and never listed: once a day, the
 * first time at its first cycle, and only records planned more than a day before.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { type Delivery, deliveryId, planOf, type Target } from '../../src/core/subscription.js';
import { startService } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import { captureLogs } from '../helpers/log-lines.js';

const channel: Target = { kind: 'channel', channelId: '55', guildId: '1' };
const delivery = (paperId: string, createdAt: string): Delivery => ({
  id: deliveryId(channel, paperId),
  target: channel,
  paperId,
  subscriptionIds: ['sub:1'],
  score: 1,
  terms: ['agents'],
  kind: 'new',
  createdAt,
  state: 'pending',
  attempts: 0,
});

describe('the outbox sweep', () => {
  it('deletes a day-old unlisted record at the first cycle and the next day, keeps a young one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paperboy-sweep-'));
    const url = `sqlite://${join(dir, 'store.sqlite')}`;
    let clock = new Date('2026-11-24T12:00:00.000Z');
    const store = await openStore(url);
    // Left by a pass stopped between writing and listing: two days old, and an hour old.
    const old = await store.outbox.writePlan(planOf([delivery('arxiv:1', '2026-11-22T12:00:00.000Z')]), {
      batch: 'stopped-old',
    });
    const young = await store.outbox.writePlan(planOf([delivery('arxiv:2', '2026-11-24T11:00:00.000Z')]), {
      batch: 'stopped-young',
    });
    await store.close();
    if (!old || !young) throw new Error('nothing written');
    const { lines, logger } = captureLogs();
    const config = parseConfig(
      {
        store: { url },
        sources: [{ name: 'seeds', type: 'digest', path: join(import.meta.dirname, '../../seeds') }],
        schedule: { runAtStart: false },
        service: { port: 0 },
      },
      {},
    );
    const service = await startService({ config, version: 'test', logger, now: () => clock });
    const swept = () =>
      lines.filter((l) => l.includes('records no index listed')).map((l) => JSON.parse(l).records);
    try {
      await service.cycle();
      expect(swept()).toEqual([1]);
      // Within the day: no sweep, though the young record is old by now.
      clock = new Date('2026-11-25T11:30:00.000Z');
      await service.cycle();
      expect(swept()).toEqual([1]);
      // A day after the first: the young record, a day old now, goes too.
      clock = new Date('2026-11-25T12:00:01.000Z');
      await service.cycle();
      expect(swept()).toEqual([1, 1]);
    } finally {
      await service.stop('test end');
    }
    const after = await openStore(url);
    try {
      await after.outbox.list([old, young]);
      expect(await after.outbox.pending()).toEqual([]);
    } finally {
      await after.close();
    }
  }, 60_000);
});
