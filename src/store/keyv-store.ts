/**
 * The store: the role-named stores of `types.ts` over Keyv, one Keyv namespace each, on the
 * backend a URL names (`sqlite://`, `redis://`, `postgres://`).
 */
import type { Keyv } from 'keyv';
import type { Paper, PaperId } from '../core/paper.js';
import {
  type BackendOptions,
  countKeys,
  type KeyvBackend,
  openKeyvBackend,
  parseStoreUrl,
  redactUrl,
  SUPPORTED_STORE_SCHEMES,
  UnsupportedStoreUrlError,
} from './keyv-backends.js';
import {
  createKeyvMatchJournal,
  createKeyvOutboxStore,
  createKeyvSubscriptionStore,
  createKeyvTargetStore,
  migrateLegacyPending,
} from './roles.js';
import type { PaperStore, SourceState, SourceStateStore, Store } from './types.js';

export { parseStoreUrl, redactUrl, SUPPORTED_STORE_SCHEMES, UnsupportedStoreUrlError };

/** The Keyv namespaces of a store; a new role store adds its namespace here. */
export const STORE_NAMESPACES = [
  'papers',
  'aliases',
  'sources',
  'subscriptions',
  'targets',
  'deliveries',
  'queue',
  'qindex',
  'batches',
  'journal',
  'meta',
] as const;
export type StoreNamespace = (typeof STORE_NAMESPACES)[number];

/** Where the outbox kept pending marks before the queue; read once at open to move them over. */
export const LEGACY_PENDING_NAMESPACE = 'pending';

/** Entries per `getMany`/`setMany` round trip: one transaction / one pipeline / one statement each. */
export const STORE_BATCH_SIZE = 1000;

export type OpenStoreOptions = BackendOptions & {
  /** How long settled deliveries are kept once unlisted (`SETTLED_RETENTION_MS`); for tests. */
  settledRetentionMs?: number;
};

/** The store could not be opened: the URL is fine but the backend is not. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  constructor(
    readonly url: string,
    options?: ErrorOptions,
  ) {
    super(`cannot open the store at ${redactUrl(url)}: ${messageOf(options?.cause)}`, options);
  }
}

function messageOf(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) return messageOf(cause.errors[0]);
  return cause instanceof Error ? cause.message || cause.name : String(cause);
}

/**
 * Opens the store `url` names: `sqlite://<path>` (relative to the working directory;
 * `sqlite:///abs/path`, `sqlite://:memory:`), `redis://`/`rediss://…`, `postgres://`/`postgresql://…`.
 * Throws {@link UnsupportedStoreUrlError} for any other scheme and {@link StoreOpenError} when the
 * backend cannot be reached.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const location = parseStoreUrl(url);
  let backend: Awaited<ReturnType<typeof openKeyvBackend>>;
  try {
    backend = await openKeyvBackend(location, opts);
  } catch (err) {
    throw new StoreOpenError(url, { cause: err });
  }
  const keyvs = Object.fromEntries(STORE_NAMESPACES.map((ns) => [ns, backend.keyv(ns)])) as Record<
    StoreNamespace,
    Keyv
  >;
  let closing: Promise<void> | undefined;
  const outbox = createKeyvOutboxStore(keyvs, {
    coordinator: backend.coordinator,
    ...(opts.settledRetentionMs === undefined ? {} : { settledRetentionMs: opts.settledRetentionMs }),
    ...(backend.writeMany ? { writeMany: backend.writeMany.bind(backend) } : {}),
    ...(backend.listKeys ? { listKeys: backend.listKeys.bind(backend) } : {}),
  });
  try {
    await migrateLegacyPending(backend.keyv(LEGACY_PENDING_NAMESPACE), keyvs.deliveries, keyvs.meta, outbox);
  } catch (err) {
    await backend.close();
    throw new StoreOpenError(url, { cause: err });
  }
  return {
    url,
    papers: createKeyvPaperStore(
      keyvs.papers,
      keyvs.aliases,
      backend.writeMany ? { writeMany: backend.writeMany.bind(backend) } : {},
    ),
    sources: createKeyvSourceStateStore(keyvs.sources),
    subscriptions: createKeyvSubscriptionStore(keyvs.subscriptions, keyvs.meta),
    targets: createKeyvTargetStore(keyvs.targets),
    outbox,
    journal: createKeyvMatchJournal(keyvs.journal),
    coordination: backend.coordinator,
    ping: () => backend.ping(),
    purgeExpired: async () =>
      backend.purgeExpired && keyvs.deliveries.namespace !== undefined
        ? backend.purgeExpired(keyvs.deliveries.namespace)
        : 0,
    close: () => {
      closing ??= backend.close();
      return closing;
    },
  };
}

/** Splits `items` into runs of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Keyv reports some failed writes as `false` instead of throwing (when `throwOnErrors` is off). */
function assertWritten(results: readonly boolean[] | undefined, what: string): void {
  if (Array.isArray(results) && results.includes(false)) throw new Error(`store: writing ${what} failed`);
}

async function getMany<Value>(
  keyv: Keyv,
  keys: readonly string[],
  size: number,
): Promise<Map<string, Value>> {
  const out = new Map<string, Value>();
  for (const chunk of chunks([...new Set(keys)], size)) {
    const values = await keyv.getMany<Value>(chunk);
    for (const [i, key] of chunk.entries()) {
      const value = values[i];
      if (value !== undefined && value !== null) out.set(key, value);
    }
  }
  return out;
}

async function setMany(
  keyv: Keyv,
  entries: readonly { key: string; value: unknown }[],
  size: number,
  what: string,
) {
  for (const chunk of chunks(entries, size)) assertWritten(await keyv.setMany(chunk), what);
}

export interface KeyvPaperStoreOptions {
  /** Keys per round trip. Default {@link STORE_BATCH_SIZE}. */
  batchSize?: number;
  /** The backend's one-transaction write across namespaces, when it has one. */
  writeMany?: KeyvBackend['writeMany'];
}

/**
 * Papers by id in `papers`, alias key → paper id in `aliases`. Reads go to the adapters'
 * `getMany`: an `IN (…)` query on SQLite, `MGET` on Redis, one `= ANY($1)` query on Postgres.
 * Writes go to the backend's `writeMany` (papers and aliases in one transaction, or one `MSET`),
 * else to Keyv's `setMany`, papers before the aliases that point at them.
 */
export function createKeyvPaperStore(
  papers: Keyv,
  aliases: Keyv,
  options: KeyvPaperStoreOptions = {},
): PaperStore {
  const size = options.batchSize ?? STORE_BATCH_SIZE;
  return {
    resolve: (keys) => getMany<PaperId>(aliases, keys, size),
    getMany: (ids) => getMany<Paper>(papers, ids, size),
    async putMany(items, aliasMap) {
      // Last write wins within a call; Postgres also refuses a key twice in one upsert.
      const byId = new Map<PaperId, Paper>();
      for (const paper of items) byId.set(paper.id, paper);
      const { writeMany } = options;
      if (writeMany) {
        // One transaction for the whole call, papers and their aliases together: commits of
        // random keys rewrite whole B-tree pages, so bigger transactions write far less.
        const entries = [
          ...[...byId].map(([key, value]) => ({ namespace: papers.namespace ?? 'papers', key, value })),
          ...[...aliasMap].map(([key, value]) => ({ namespace: aliases.namespace ?? 'aliases', key, value })),
        ];
        await writeMany(entries);
        return;
      }
      // Papers before the aliases that point at them: a failure in between leaves an unreachable
      // paper, never an alias to nothing.
      await setMany(
        papers,
        [...byId].map(([key, value]) => ({ key, value })),
        size,
        'papers',
      );
      await setMany(
        aliases,
        [...aliasMap].map(([key, value]) => ({ key, value })),
        size,
        'aliases',
      );
    },
    async *iterate() {
      if (papers.iterator === undefined) throw new Error('store: this Keyv store cannot iterate');
      for await (const [, paper] of papers.iterator(papers.namespace) as AsyncIterable<[string, Paper]>) {
        yield paper;
      }
    },
    count: () => countKeys(papers),
  };
}

/**
 * Source names are URI-encoded into keys: Keyv skips its namespace prefix for a key that already
 * starts with `<namespace>:` and splits keys at the first `:` when iterating, so a raw name like
 * `sources:x` or `a:b` would not round-trip.
 */
const sourceKey = (name: string): string => encodeURIComponent(name);

/** Each source's state under its name in `keyv`'s namespace. */
export function createKeyvSourceStateStore(keyv: Keyv): SourceStateStore {
  return {
    get: (name) => keyv.get<SourceState>(sourceKey(name)),
    async getAll() {
      const out = new Map<string, SourceState>();
      if (keyv.iterator === undefined) throw new Error('store: this Keyv store cannot iterate');
      for await (const [key, state] of keyv.iterator(keyv.namespace) as AsyncIterable<
        [string, SourceState]
      >) {
        out.set(decodeURIComponent(key), state);
      }
      return out;
    },
    async set(name, state) {
      if (!(await keyv.set(sourceKey(name), state)))
        throw new Error(`store: writing source state ${name} failed`);
    },
  };
}
