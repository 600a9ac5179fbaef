import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Delivery, deliveryId, type Target } from '../../src/core/subscription.js';
import { openKeyvBackend, parseStoreUrl } from '../../src/store/keyv-backends.js';
import { openStore } from '../../src/store/keyv-store.js';
import { delivery } from '../contracts/roles-contract.js';

const target: Target = { kind: 'channel', channelId: '9' };
const planned = '2026-11-22T10:00:00.000Z';

/** What the outbox before the columnar records read back from the record below. */
const expected: Delivery[] = [
  {
    ...delivery(target, 'arxiv:2411.00001', 2.5),
    subscriptionIds: ['sub:a', 'sub:b'],
    terms: ['moe', 'agents'],
  },
  {
    ...delivery(target, 'arxiv:2411.00002', 0.123456789),
    id: deliveryId(target, 'arxiv:2411.00002', '2026-11-21T00:00:00.000Z'),
    kind: 'update',
    subscriptionIds: ['sub:b'],
    terms: ['agents'],
    createdAt: '2026-11-22T11:00:00.000Z',
  },
];

/** A store as the outbox wrote it before: tuple records under `<target>|<call>`, the index as a list. */
async function oldStore(): Promise<string> {
  const url = `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-layout-')), 'store.sqlite')}`;
  const backend = await openKeyvBackend(parseStoreUrl(url));
  await backend.keyv('queue').set(encodeURIComponent('channel:9|b:old'), {
    target,
    createdAt: planned,
    s: ['sub:a', 'sub:b'],
    w: ['moe', 'agents'],
    d: [
      ['arxiv:2411.00001', 2.5, [0, 1], [0, 1], 'n', '', ''],
      [
        'arxiv:2411.00002',
        0.123456789,
        [1],
        [1],
        'u',
        '2026-11-22T11:00:00.000Z',
        '|u:2026-11-21T00:00:00.000Z',
      ],
    ],
  });
  await backend.keyv('qindex').set(encodeURIComponent('channel:9'), [{ e: 'b:old', n: 2 }]);
  await backend.close();
  return url;
}

describe('an outbox written in the layout before columnar records', () => {
  it('reads its pending deliveries as they were planned, next to ones written since', async () => {
    const store = await openStore(await oldStore());
    try {
      expect(await store.outbox.pending('channel:9')).toEqual(expected);
      const added = delivery(target, 'arxiv:2411.00003');
      await store.outbox.enqueue([added], { fresh: true });
      expect(await store.outbox.pending('channel:9')).toEqual([...expected, added]);
      expect(await store.outbox.pendingTargets()).toEqual(['channel:9']);
      expect(await store.outbox.stats({ exact: false })).toMatchObject({ pending: 3 });
      expect((await store.outbox.get([expected[1]?.id as string])).get(expected[1]?.id as string)).toEqual(
        expected[1],
      );
    } finally {
      await store.close();
    }
  });

  it('replaces an old record when its call is replayed, and prunes both layouts once settled', async () => {
    const url = await oldStore();
    const store = await openStore(url);
    try {
      await store.outbox.markSent([expected[0]?.id as string], { messageId: 'm1', sentAt: planned });
      // The journal entry behind `b:old` replayed after the upgrade: same call, new layout.
      await store.outbox.enqueue(expected, { fresh: true, batch: 'old' });
      await store.outbox.enqueue([delivery(target, 'arxiv:2411.00003')], { fresh: true });
      expect((await store.outbox.pending('channel:9')).map((d) => d.paperId)).toEqual([
        'arxiv:2411.00002',
        'arxiv:2411.00003',
      ]);
      expect((await store.outbox.stats({ exact: false })).pending).toBe(3);
      await store.outbox.drop(
        ['arxiv:2411.00002', 'arxiv:2411.00003'].map((p, i) =>
          i === 0 ? (expected[1]?.id as string) : deliveryId(target, p),
        ),
        'gone',
      );
      expect(await store.outbox.pending('channel:9')).toEqual([]);
      expect(await store.outbox.pendingTargets()).toEqual([]);
    } finally {
      await store.close();
    }
    const backend = await openKeyvBackend(parseStoreUrl(url));
    try {
      const queue = backend.keyv('queue');
      expect(await queue.get(encodeURIComponent('channel:9|b:old'))).toBeUndefined();
      expect(await queue.get(encodeURIComponent('b:old|channel:9'))).toBeUndefined();
    } finally {
      await backend.close();
    }
  });
});
