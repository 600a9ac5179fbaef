import { createClient } from '@keyv/redis';
import { describe, expect, inject, it } from 'vitest';
import { openKeyvBackend, parseStoreUrl } from '../../src/store/keyv-backends.js';
import { openStore } from '../../src/store/keyv-store.js';
import { runRolesContract } from '../contracts/roles-contract.js';
import { runStoreContract } from '../contracts/store-contract.js';
import { STORED_FORM_SAMPLES, sampleKey, writeSamplesViaKeyv } from '../helpers/stored-form.js';

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
    async (opts) => {
      await flush(redisUrl);
      return openStore(redisUrl, opts);
    },
    (first) => openStore(first.url),
  );

  it('writes many entries as Keyv would, byte for byte, and lists a namespace by keys alone', async () => {
    await flush(redisUrl);
    const backend = await openKeyvBackend(parseStoreUrl(redisUrl));
    const raw = createClient({ url: redisUrl });
    await raw.connect();
    try {
      const values = STORED_FORM_SAMPLES;
      await writeSamplesViaKeyv(backend, 'cmp-keyv');
      if (!backend.writeMany || !backend.listKeys)
        throw new Error('the Redis backend writes and lists directly');
      await backend.writeMany(
        values.map((value, i) => ({ namespace: 'cmp-direct', key: sampleKey(i), value })),
      );
      for (const i of values.keys()) {
        const want = await raw.get(`cmp-keyv::k${i}%3A`);
        expect(want).not.toBeNull();
        expect(await raw.get(`cmp-direct::k${i}%3A`)).toBe(want);
      }
      // Read back through Keyv as any other value, and listed without the namespace.
      const direct = backend.keyv<unknown>('cmp-direct');
      for (const [i, v] of values.entries()) expect(await direct.get(sampleKey(i))).toEqual(v);
      expect((await backend.listKeys('cmp-direct')).sort()).toEqual(
        values.map((_, i) => sampleKey(i)).sort(),
      );
      expect(await backend.listKeys('cmp-none')).toEqual([]);
    } finally {
      await raw.close();
      await backend.close();
    }
  });
});
