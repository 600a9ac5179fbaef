import { createClient } from '@keyv/redis';
import { describe, inject } from 'vitest';
import { openStore } from '../../src/store/keyv-store.js';
import { runRolesContract } from '../contracts/roles-contract.js';
import { runStoreContract } from '../contracts/store-contract.js';

const url = inject('redisUrl');

async function flush(redisUrl: string): Promise<void> {
  const client = createClient({ url: redisUrl });
  await client.connect();
  await client.flushDb();
  await client.close();
}

describe.skipIf(url === undefined)('redis', () => {
  const redisUrl = url ?? '';
  runStoreContract(
    'redis',
    async () => {
      await flush(redisUrl);
      return openStore(redisUrl);
    },
    openStore,
  );
  runRolesContract(
    'redis',
    async () => {
      await flush(redisUrl);
      return openStore(redisUrl);
    },
    (first) => openStore(first.url),
  );
});
