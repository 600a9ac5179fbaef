/**
 * The Discord client: logs in with the Guilds intent only, registers the slash commands when
 * they changed, routes interactions, and watches the REST responses for invalid requests
 * (401/403/429 count towards Discord's 10,000-per-10-minutes ban threshold).
 */
import {
  type APIApplicationCommand,
  Client,
  Events,
  GatewayIntentBits,
  type REST,
  RESTEvents,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  Routes,
  Status,
} from 'discord.js';
import type { Logger } from 'pino';
import type { DiscordPort } from '../pipeline/deliver.js';
import { type CommandContext, commandDefinitions, handleInteraction } from './commands.js';
import { createRestPort } from './rest-port.js';

export interface BotOptions {
  /** The bot token (from DISCORD_TOKEN). Never logged. */
  token: string;
  /** REST base, e.g. `http://127.0.0.1:8080/api` for a proxy or the test emulator (no `/v10`). */
  apiUrl?: string;
  /** Register the commands to this guild only (instant; for development). */
  guildId?: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'fatal'>;
  commands: CommandContext;
  /** Counts a 401/403/429 response (by status). */
  onInvalidRequest?: (status: number) => void;
  /** Called once when Discord rejects the token: the service must stop. */
  onUnauthorized?: (reason: string) => void;
  /** discord.js REST retries for 5xx/network errors before delivery's own backoff takes over. */
  restRetries?: number;
  /** Shard options when the process runs several shards (see README). */
  shards?: number | number[] | 'auto';
  shardCount?: number;
  /** Aborts the delivery port's posts in flight or queued (the service's stop). */
  signal?: AbortSignal;
}

export interface Bot {
  readonly client: Client;
  readonly rest: REST;
  readonly port: DiscordPort;
  /** Logs in and registers commands; resolves when the client is ready. */
  start(): Promise<void>;
  /** Whether every shard this process runs is connected and ready. */
  connected(): boolean;
  /** The shards this process runs and the fleet's shard count (known once started). */
  shards(): { ids: number[]; count: number };
  /** How many invalid requests (401/403/429) since start. */
  invalidRequests(): number;
  /**
   * The commands as they were registered at start-up: `unchanged` means no write happened,
   * `elsewhere` that this process does not run shard 0, whose process registers them.
   */
  registration(): Registration;
  stop(): Promise<void>;
}

export type Registration = 'registered' | 'unchanged' | 'elsewhere' | 'pending';

/**
 * Creates the client (not yet connected): one process of a sharded fleet runs the shards in
 * `opts.shards`; commands are global, so only the process running shard 0 registers them.
 */
export function createBot(opts: BotOptions): Bot {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    rest: {
      ...(opts.apiUrl ? { api: opts.apiUrl } : {}),
      retries: opts.restRetries ?? 1,
    },
    ...(opts.shards !== undefined ? { shards: opts.shards } : {}),
    ...(opts.shardCount !== undefined ? { shardCount: opts.shardCount } : {}),
  });
  let invalid = 0;
  let registration: Registration = 'pending';
  let unauthorized = false;
  client.rest.on(RESTEvents.Response, (_request, response) => {
    const status = response.status;
    if (status === 401 || status === 403 || status === 429) {
      // Discord does not count 429s of the shared scope against the ban threshold.
      if (status === 429 && response.headers.get('x-ratelimit-scope') === 'shared') return;
      invalid++;
      opts.onInvalidRequest?.(status);
      if (status === 401 && !unauthorized) {
        unauthorized = true;
        const reason = 'Discord rejected the bot token (401 Unauthorized): check DISCORD_TOKEN';
        opts.logger.fatal(reason);
        opts.onUnauthorized?.(reason);
      }
    }
  });
  client.rest.on(RESTEvents.RateLimited, (info) => {
    opts.logger.warn(
      { route: info.route, retryAfter: info.retryAfter, global: info.global, scope: info.scope },
      'Discord rate limit: waiting',
    );
  });
  client.on(Events.InteractionCreate, (interaction) => {
    void handleInteraction(interaction, opts.commands);
  });
  client.on(Events.Error, (err) => opts.logger.error({ err }, 'Discord client error'));
  client.on(Events.ShardDisconnect, (e, id) =>
    opts.logger.warn({ shard: id, code: e.code }, 'gateway disconnected'),
  );
  /** After login discord.js has resolved `'auto'` and counts to the ids this process runs. */
  const shardIds = (): number[] =>
    Array.isArray(client.options.shards) ? [...client.options.shards].sort((a, b) => a - b) : [];

  return {
    client,
    rest: client.rest,
    port: createRestPort(client.rest, opts.signal),
    async start() {
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      try {
        await client.login(opts.token);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (/token/i.test(message) && !unauthorized) {
          unauthorized = true;
          opts.onUnauthorized?.(`Discord rejected the bot token: ${message}`);
        }
        // Discord closed a shard for good (4010 Invalid shard, 4011 Sharding required): say what to change.
        if (/invalid shard|sharding is required/i.test(message)) {
          throw new Error(
            `Discord refused the gateway session: ${message} (shards ${JSON.stringify(client.options.shards)} of ${client.options.shardCount}); check discord.shards and discord.shardCount, or use "auto"`,
            { cause: err },
          );
        }
        throw err;
      }
      await ready;
      const appId = client.application?.id;
      if (!appId) throw new Error('Discord did not say which application this bot is');
      // Every process of a fleet starts at once after a deploy; one writer is enough, and two
      // that both see old commands would both re-publish them.
      if (!shardIds().includes(0)) registration = 'elsewhere';
      else
        registration = (await registerCommands(client.rest, appId, opts.guildId, commandDefinitions()))
          ? 'registered'
          : 'unchanged';
      opts.logger.info(
        {
          user: client.user?.tag,
          guilds: client.guilds.cache.size,
          shards: shardIds(),
          shardCount: client.options.shardCount,
          commands: registration,
          scope: opts.guildId ? `guild ${opts.guildId}` : 'global',
        },
        'Discord ready',
      );
    },
    // One shard down means its guilds get no answers: the process is not healthy.
    connected: () =>
      client.isReady() &&
      client.ws.shards.size > 0 &&
      client.ws.shards.every((shard) => shard.status === Status.Ready),
    shards: () => ({ ids: shardIds(), count: client.options.shardCount ?? 1 }),
    invalidRequests: () => invalid,
    registration: () => registration,
    async stop() {
      await client.destroy();
    },
  };
}

/**
 * Registers the commands with one bulk overwrite, but only when what Discord has differs from
 * what we define (each PUT re-publishes every command). Returns whether it wrote.
 */
export async function registerCommands(
  rest: REST,
  appId: string,
  guildId: string | undefined,
  defs: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[],
): Promise<boolean> {
  const route = guildId ? Routes.applicationGuildCommands(appId, guildId) : Routes.applicationCommands(appId);
  const existing = (await rest.get(route)) as APIApplicationCommand[];
  const want = JSON.stringify(defs.map((c) => normalizeCommand(c as CommandShape)).sort(byName));
  const have = JSON.stringify(existing.map((c) => normalizeCommand(c as CommandShape)).sort(byName));
  if (want === have) return false;
  await rest.put(route, { body: defs });
  return true;
}

const byName = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a.name).localeCompare(String(b.name));

interface CommandShape {
  name: string;
  description: string;
  type?: number | undefined;
  options?: unknown[] | undefined;
  default_member_permissions?: string | null | undefined;
}

/** The fields we set, with Discord's defaults filled in, so a fetched command compares equal. */
function normalizeCommand(c: CommandShape): Record<string, unknown> {
  return {
    name: c.name,
    description: c.description,
    type: c.type ?? 1,
    default_member_permissions: c.default_member_permissions ?? null,
    options: (c.options ?? []).map((o) => normalizeOption(o as Record<string, unknown>)),
  };
}

function normalizeOption(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: o.type,
    name: o.name,
    description: o.description,
    required: o.required ?? false,
    autocomplete: o.autocomplete ?? false,
  };
  for (const k of ['min_value', 'max_value', 'min_length', 'max_length'] as const) {
    if (o[k] !== undefined) out[k] = o[k];
  }
  if (Array.isArray(o.choices) && o.choices.length > 0) {
    out.choices = (o.choices as Array<{ name: string; value: unknown }>).map((c) => ({
      name: c.name,
      value: c.value,
    }));
  }
  if (Array.isArray(o.options) && o.options.length > 0) {
    out.options = (o.options as Array<Record<string, unknown>>).map(normalizeOption);
  }
  return out;
}
