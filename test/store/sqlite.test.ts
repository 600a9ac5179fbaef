import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/keyv-store.js';
import { delivery, runRolesContract, sub } from '../contracts/roles-contract.js';
import { runStoreContract } from '../contracts/store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'paperboy-sqlite-'));
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A new file per store, in a directory that does not exist yet.
runStoreContract(
  'sqlite',
  () => openStore(`sqlite://${join(dir, String(++n), 'paperboy.sqlite')}`),
  openStore,
);
runStoreContract('sqlite in memory', () => openStore('sqlite://:memory:'));

runRolesContract('sqlite', (opts) =>
  openStore(`sqlite://${join(dir, String(++n), 'paperboy.sqlite')}`, opts),
);

it('keeps subscriptions, pending deliveries and open batches across a restart', async () => {
  const url = `sqlite://${join(dir, String(++n), 'paperboy.sqlite')}`;
  const first = await openStore(url);
  const target = { kind: 'channel', channelId: '9' } as const;
  await first.subscriptions.put(sub(target, 'multi-task'));
  await first.outbox.enqueue([delivery(target, 'fp:1')]);
  await first.outbox.openBatch({
    id: 'd:1',
    targetKey: 'channel:9',
    deliveryIds: [],
    nonce: 'n',
    createdAt: 'x',
    seq: 1,
    body: {},
  });
  await first.close();
  const again = await openStore(url);
  try {
    expect(await again.subscriptions.list()).toHaveLength(1);
    expect(await again.outbox.pending('channel:9')).toHaveLength(1);
    expect((await again.outbox.openBatches()).map((b) => b.id)).toEqual(['d:1']);
  } finally {
    await again.close();
  }
});
