/**
 * The Redis backend (the official @keyv/redis adapter over one shared client), loaded by
 * `openKeyvBackend` only for a `redis://` store.
 */
import KeyvRedis, { createClient } from '@keyv/redis';
import { JsonByteWriter } from './json-bytes.js';
import { type BackendOptions, type KeyvBackend, keyvOver, type NamespacedEntry } from './keyv-backends.js';
import { createRedisCoordinator, type RedisLike } from './roles.js';

type RedisClient = ReturnType<typeof createClient>;

/** The string keys matching `match`, a SCAN page of up to ~1000 at a time (a key may repeat). */
async function* scanPages(client: RedisClient, match: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const page = await client.scan(cursor, { MATCH: match, COUNT: 1000, TYPE: 'string' });
    cursor = String(page.cursor);
    yield page.keys;
  } while (cursor !== '0');
}

/**
 * The official adapter plus a count, and an iterator that pages by 1000: the stock one SCANs
 * with Redis' default COUNT of 10, two round trips per ~10 papers (measured over 100k papers:
 * 12k/s against 60k/s for `getMany`), and yields `null` for a key deleted between SCAN and MGET,
 * which Keyv then fails to deserialize.
 */
class PagedKeyvRedis extends KeyvRedis<string> {
  constructor(
    private readonly redis: RedisClient,
    namespace: string,
  ) {
    super(redis, { namespace, throwOnErrors: true });
  }

  private async *keyPages(namespace: string | undefined): AsyncGenerator<string[]> {
    const match = namespace ? `${namespace}${this.keyPrefixSeparator}*` : '*';
    for await (const keys of scanPages(this.redis, match)) {
      // Without a namespace, only keys outside every namespace (as the stock iterator does).
      yield namespace ? keys : keys.filter((key) => !key.includes(this.keyPrefixSeparator));
    }
  }

  override async *iterator<U = string>(namespace?: string): AsyncGenerator<[string, U | undefined], void> {
    const skip = namespace ? namespace.length + this.keyPrefixSeparator.length : 0;
    for await (const keys of this.keyPages(namespace)) {
      if (keys.length === 0) continue;
      const values = await this.redis.mGet(keys);
      for (const [i, key] of keys.entries()) {
        const value = values[i];
        if (value !== null && value !== undefined) yield [key.slice(skip), value as U];
      }
    }
  }

  async count(namespace = this.namespace): Promise<number> {
    let n = 0;
    for await (const keys of this.keyPages(namespace)) n += keys.length;
    return n;
  }
}

/** Where @keyv/redis keeps `key` of `namespace` (its `createKeyPrefix`). */
const redisKey = (namespace: string, key: string): string => `${namespace}::${key}`;

/**
 * `entries` in one MSET (atomic, as the adapter's MULTI of SETs is; this client is one node, not
 * a cluster), each value in Keyv's stored form, `serialize({ value, expires })` without a TTL:
 * `{"value":…}`, as @keyv/redis' `setMany` stores it after Keyv. The JSON goes straight to
 * bytes, every value end to end in one buffer, and each gets a view of its bytes: through Keyv,
 * each value was a string, copied again into its command's RESP text. In a 100k-paper cycle the
 * main thread allocated 4.3 GB that way, 3.1 GB with a MULTI of SETs of bytes, 2.4 GB so (sampling
 * heap profiler), and was busy 9.4 s, 9.1–9.2 s and 8.3–8.7 s (three runs each).
 */
async function writeRedis(client: RedisClient, entries: readonly NamespacedEntry[]): Promise<void> {
  if (entries.length === 0) return;
  // A buffer per call, grown as needed: the views below stay queued in the client until sent.
  const writer = new JsonByteWriter();
  const ends = new Array<number>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    writer.write({ value: (entries[i] as NamespacedEntry).value });
    ends[i] = writer.length;
  }
  // Views only once every value is written: the buffer may move while it grows.
  const bytes = writer.view(0);
  const args: Array<string | Buffer> = new Array(2 * entries.length);
  let start = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as NamespacedEntry;
    const end = ends[i] as number;
    args[2 * i] = redisKey(e.namespace, e.key);
    args[2 * i + 1] = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
    start = end;
  }
  await client.mSet(args);
}

/** The keys of `namespace` as Keyv gave them, each once (SCAN may repeat a key). */
async function redisKeys(client: RedisClient, namespace: string): Promise<string[]> {
  const prefix = redisKey(namespace, '');
  const out = new Set<string>();
  for await (const keys of scanPages(client, `${prefix}*`))
    for (const key of keys) out.add(key.slice(prefix.length));
  return [...out];
}

export async function openRedis(url: string, options: BackendOptions): Promise<KeyvBackend> {
  let connected = false;
  const client: RedisClient = createClient({
    url,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Fail the first connect fast; once up, keep reconnecting (commands wait in the offline queue).
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(100 * 2 ** retries, 2000) : retries >= 2 ? cause : 200,
    },
  });
  client.on('error', (err: unknown) => options.onError?.(err));
  // Each Keyv namespace's adapter listens for errors on the one shared client.
  client.setMaxListeners(32);
  try {
    await client.connect();
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw err;
  }
  connected = true;
  return {
    // @keyv/redis prefixes keys itself (`papers::<key>`), so Keyv must not.
    keyv: (namespace) => keyvOver(new PagedKeyvRedis(client, namespace), namespace, false),
    coordinator: createRedisCoordinator(client as unknown as RedisLike),
    writeMany: (entries) => writeRedis(client, entries),
    listKeys: (namespace) => redisKeys(client, namespace),
    ping: async () => {
      await client.ping();
    },
    close: async () => {
      if (client.isOpen) await client.close();
    },
  };
}
