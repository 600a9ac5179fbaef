import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openKeyvBackend, parseStoreUrl } from '../../src/store/keyv-backends.js';
import { LEGACY_PENDING_NAMESPACE, openStore } from '../../src/store/keyv-store.js';
import { delivery } from '../contracts/roles-contract.js';

describe('opening a store written by the outbox before the queue', () => {
  it('moves its pending deliveries into the queue and keeps sent ones sent', async () => {
    const url = `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-migrate-')), 'store.sqlite')}`;
    const target = { kind: 'channel' as const, channelId: '9' };
    const waiting = [delivery(target, 'arxiv:2411.00001'), delivery(target, 'arxiv:2411.00002')];
    const sent = { ...delivery(target, 'arxiv:2411.00003'), state: 'sent' as const, messageId: 'm1' };
    // The old layout: every delivery in `deliveries`, a mark per pending one in `pending`.
    const old = await openKeyvBackend(parseStoreUrl(url));
    const deliveries = old.keyv('deliveries');
    const pending = old.keyv(LEGACY_PENDING_NAMESPACE);
    for (const d of [...waiting, sent]) await deliveries.set(encodeURIComponent(d.id), d);
    for (const d of waiting) await pending.set(encodeURIComponent(d.id), 'channel:9');
    await old.close();

    const store = await openStore(url);
    try {
      expect((await store.outbox.pending('channel:9')).map((d) => d.paperId).sort()).toEqual([
        'arxiv:2411.00001',
        'arxiv:2411.00002',
      ]);
      expect(await store.outbox.pendingTargets()).toEqual(['channel:9']);
      expect((await store.outbox.get([sent.id])).get(sent.id)).toMatchObject({ state: 'sent' });
    } finally {
      await store.close();
    }
    // Moved once: opening again finds nothing left to move and nothing doubled.
    const again = await openStore(url);
    try {
      expect(await again.outbox.pending('channel:9')).toHaveLength(2);
    } finally {
      await again.close();
    }
  });
});
