/**
 * The configuration: one zod schema, a JSONC file in config/ and environment overrides for
 * secrets and deployment settings. The only module that reads `process.env` is the caller of
 * {@link loadConfig} (cli.ts / main.ts), which passes it in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { validateDetailed } from 'node-cron';
import { z } from 'zod';
import type { SourceSpec } from './pipeline/ingest.js';

const httpUrl = z
  .string()
  .refine((s) => /^https?:\/\/[^\s/]+/i.test(s) && URL.canParse(s), { message: 'must be an http(s) URL' });

const sourceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/i, { message: 'must be letters, digits, ".", "_" or "-"' });

const DigestSource = z.strictObject({
  name: sourceName,
  type: z.literal('digest'),
  /** A digest or saved feed file, or a directory of them, relative to the working directory. */
  path: z.string().min(1),
  enabled: z.boolean().default(true),
});

const FeedSource = z.strictObject({
  name: sourceName,
  type: z.literal('feed'),
  /** RSS 2.0 / RSS 1.0 / Atom / arXiv API / HF daily-papers JSON; `{date}` becomes today's UTC date. */
  url: httpUrl,
  enabled: z.boolean().default(true),
});

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export const SourceSchema = z.discriminatedUnion('type', [DigestSource, FeedSource], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? 'type must be "digest" (a file or directory) or "feed" (a URL)'
      : undefined,
});
export type SourceConfig = z.infer<typeof SourceSchema>;

const storeUrl = z.string().refine((s) => /^(sqlite|redis|rediss|postgres|postgresql):\/\//.test(s), {
  message: 'must start with sqlite://, redis://, rediss:// or postgres://',
});

const ConfigFields = z.strictObject({
  store: z
    .strictObject({
      /** Overridden by PAPERBOY_STORE_URL. */
      url: storeUrl.default('sqlite://data/paperboy.sqlite'),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Who to contact about this instance's traffic; sent in the User-Agent (arXiv asks for it). */
      contact: z
        .string()
        .min(3)
        // Printable ASCII: it goes into an HTTP header, where anything else is refused or mangled.
        .regex(
          /^[\x20-\x7e]+$/,
          'must be printable ASCII (a URL or mailto:), as it goes into the User-Agent header',
        )
        .default('https://github.com/paperboy-bot/paperboy'),
      connectTimeoutMs: z.number().int().positive().default(10_000),
      headersTimeoutMs: z.number().int().positive().default(30_000),
      bodyTimeoutMs: z.number().int().positive().default(60_000),
      maxBodyBytes: z
        .number()
        .int()
        .positive()
        .default(20 * 1024 * 1024),
      retries: z.number().int().min(0).max(10).default(3),
      backoffBaseMs: z.number().int().positive().default(1_000),
      backoffMaxMs: z.number().int().positive().default(60_000),
      /** At most one request per host per interval: arXiv asks for one every 3 s. */
      perHostIntervalMs: z.number().int().min(0).default(3_000),
      maxRetryAfterMs: z.number().int().positive().default(120_000),
    })
    .prefault({}),
  ingest: z
    .strictObject({
      /** A source failing this many cycles in a row is marked failing and backs off. */
      failingAfter: z.number().int().positive().default(3),
      /** Backoff for a failing source: doubles per further failure, capped. */
      failingBackoffMinutes: z.number().positive().default(30),
      failingBackoffMaxMinutes: z
        .number()
        .positive()
        .default(24 * 60),
      /** A feed whose newest entry is older than this is reported "stale" (arXiv: a long weekend is 3-4 days). */
      staleAfterHours: z.number().positive().default(96),
      /** Sources fetched at once (politeness per host still applies). */
      concurrency: z.number().int().positive().max(32).default(4),
    })
    .prefault({}),
  sources: z.array(SourceSchema).default([{ name: 'seeds', type: 'digest', path: 'seeds', enabled: true }]),
  discord: z
    .strictObject({
      /** Secret: only from DISCORD_TOKEN. */
      token: z.string().min(1).optional(),
      /** REST base for a proxy (e.g. @discordjs/proxy) or a test emulator; DISCORD_API_URL. */
      apiUrl: httpUrl.optional(),
      /** Register commands to this guild only (instant, for development); DISCORD_GUILD_ID. */
      guildId: z
        .string()
        .regex(/^\d{17,20}$/, { message: 'must be a Discord guild id (a snowflake of 17-20 digits)' })
        .optional(),
      /** Shards this process runs: "auto" (discord.js decides), or a list of shard ids with shardCount. */
      shards: z.union([z.literal('auto'), z.array(z.number().int().min(0)).min(1)]).optional(),
      shardCount: z.number().int().positive().optional(),
    })
    .superRefine((d, ctx) => {
      // discord.js takes a list without a count as the whole fleet (count = list length), so
      // `[1]` would identify as shard 1 of 1 (Discord closes it: 4010) and `[0]` as the only
      // shard, taking every guild's events while another process runs shard 1.
      if (Array.isArray(d.shards)) {
        if (d.shardCount === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['shardCount'],
            message: 'is required with a list of shards: the total number of shards across all processes',
          });
        } else {
          for (const [i, id] of d.shards.entries()) {
            if (id >= d.shardCount)
              ctx.addIssue({
                code: 'custom',
                path: ['shards', i],
                message: `shard ${id} does not exist with shardCount ${d.shardCount} (ids are 0 to ${d.shardCount - 1})`,
              });
          }
        }
      } else if (d.shards === 'auto' && d.shardCount !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['shardCount'],
          message: 'is ignored with shards "auto" (Discord recommends the count): remove one of them',
        });
      }
    })
    .prefault({}),
  delivery: z
    .strictObject({
      /** A digest with more papers than this opens a thread from a header message. */
      threadThreshold: z.number().int().min(1).default(10),
      /** At most this many papers per digest; the rest are counted in an "…and N more" notice. */
      maxPerDigest: z.number().int().min(1).max(500).default(50),
      /** Attempts with exponential backoff for 5xx and network errors, per message. */
      retries: z.number().int().min(0).max(10).default(3),
      backoffBaseMs: z.number().int().positive().default(1_000),
      /** Targets delivered at once (discord.js's REST queue keeps the rate limits). */
      concurrency: z.number().int().positive().max(100).default(16),
      /** A paused target (403/404) is tried again this often; a post that works resumes it. */
      pausedRetryHours: z.number().positive().default(6),
      /** An instance's claim on a channel while it posts there; a dead instance's claim expires after this. */
      claimTtlSeconds: z.number().positive().default(120),
    })
    .prefault({}),
  subscriptions: z
    .strictObject({
      /** A new subscription's first digest includes matches first seen this many hours ago (0: off). */
      backfillHours: z
        .number()
        .min(0)
        .max(24 * 30)
        .default(24),
      /** `/subscribe` previews what the filter matched in this many days. */
      previewDays: z.number().int().min(1).max(365).default(7),
      /** Defaults of `/digest schedule`. */
      defaultTime: z
        .string()
        .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be HH:MM (24 h)' })
        .default('09:00'),
      defaultTimezone: z
        .string()
        .refine(isTimeZone, { message: 'must be an IANA timezone such as Europe/Berlin or UTC' })
        .default('UTC'),
      /** Results per page of `/paper search`. */
      pageSize: z.number().int().min(1).max(25).default(10),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      /** When sources are read (cron, 5 or 6 fields). Default: hourly, on the hour. */
      ingestCron: z
        .string()
        .superRefine((expr, ctx) => {
          const check = validateDetailed(expr);
          if (check.valid) return;
          const why = check.errors.map((e) => e.message).join('; ');
          ctx.addIssue({
            code: 'custom',
            message: `not a cron expression: ${why} (e.g. "0 * * * *" for hourly)`,
          });
        })
        .default('0 * * * *'),
      /** Timezone of ingestCron. */
      timezone: z
        .string()
        .refine(isTimeZone, { message: 'must be an IANA timezone such as Europe/Berlin or UTC' })
        .default('UTC'),
      /** Run a cycle right after start-up (besides sending digests missed while down). */
      runAtStart: z.boolean().default(true),
    })
    .prefault({}),
  search: z
    .strictObject({
      /**
       * Papers the search index holds: those first seen in the last this many days (0: every
       * paper). The index is in memory, ~1 MB per 1000 papers (README: memory); older papers stay
       * in the store and are found by id, but not by `/paper search`. Applied daily.
       */
      windowDays: z.number().int().min(0).default(0),
    })
    .prefault({}),
  service: z
    .strictObject({
      /** /healthz and /metrics; PAPERBOY_HTTP_HOST. Loopback unless you mean otherwise. */
      host: z
        .string()
        .refine((h) => isIP(h) !== 0 || HOST_NAME.test(h), {
          message: 'must be an IP address or a host name, such as 127.0.0.1, 0.0.0.0, ::1 or localhost',
        })
        .default('127.0.0.1'),
      /** PAPERBOY_HTTP_PORT; 0 picks a free port. */
      port: z.number().int().min(0).max(65_535).default(8080),
      /** PAPERBOY_LOG_LEVEL. */
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      /** /healthz reports unhealthy when the last cycle is older than this many minutes. */
      maxCycleAgeMinutes: z.number().positive().default(180),
    })
    .prefault({}),
});

export const ConfigSchema = ConfigFields.superRefine((c, ctx) => {
  // Previews and first digests search the index: a window shorter than they look back over
  // would hide papers from them.
  const days = c.search.windowDays;
  if (days === 0) return;
  const needed = Math.max(c.subscriptions.previewDays, Math.ceil(c.subscriptions.backfillHours / 24));
  if (days < needed)
    ctx.addIssue({
      code: 'custom',
      path: ['search', 'windowDays'],
      message: `must be 0 (every paper) or at least ${needed}: subscriptions.previewDays and backfillHours look back that far`,
    });
});

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export type Config = z.infer<typeof ConfigSchema>;

export const DEFAULT_CONFIG_PATH = 'config/paperboy.jsonc';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string | undefined,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration${file ? ` in ${file}` : ''}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when none exists and defaults were used. */
  file: string | undefined;
}

/**
 * Reads the config file (`PAPERBOY_CONFIG`, else config/paperboy.jsonc when present), applies
 * environment overrides and validates the result. Throws {@link ConfigError} listing every
 * problem with its path.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): LoadedConfig {
  const explicit = env.PAPERBOY_CONFIG;
  const path = resolve(cwd, explicit ?? DEFAULT_CONFIG_PATH);
  let raw: unknown = {};
  let file: string | undefined;
  if (explicit !== undefined || existsSync(path)) {
    file = path;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
    }
    try {
      raw = JSON.parse(stripJsonComments(text));
    } catch (err) {
      throw new ConfigError(path, [`not valid JSON (comments allowed): ${(err as Error).message}`]);
    }
  }
  return { config: parseConfig(raw, env, file), file };
}

/** Validates a parsed config object with environment overrides applied. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv, file?: string): Config {
  const merged = applyEnv(raw, env);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  return result.data;
}

function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const section = (name: string): Record<string, unknown> => {
    const v = out[name];
    const copy = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : {};
    out[name] = copy;
    return copy;
  };
  if (env.PAPERBOY_STORE_URL) section('store').url = env.PAPERBOY_STORE_URL;
  if (env.PAPERBOY_CONTACT) section('http').contact = env.PAPERBOY_CONTACT;
  if (env.DISCORD_TOKEN) section('discord').token = env.DISCORD_TOKEN;
  if (env.DISCORD_API_URL) section('discord').apiUrl = env.DISCORD_API_URL;
  if (env.DISCORD_GUILD_ID) section('discord').guildId = env.DISCORD_GUILD_ID;
  if (env.PAPERBOY_HTTP_HOST) section('service').host = env.PAPERBOY_HTTP_HOST;
  if (env.PAPERBOY_HTTP_PORT) section('service').port = Number(env.PAPERBOY_HTTP_PORT);
  if (env.PAPERBOY_LOG_LEVEL) section('service').logLevel = env.PAPERBOY_LOG_LEVEL;
  return out;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/** The effective config with secrets replaced, for printing. */
export function redactConfig(config: Config): unknown {
  return {
    ...config,
    store: { url: redactUrl(config.store.url) },
    discord: { ...config.discord, token: config.discord.token ? '[redacted]' : '(not set: DISCORD_TOKEN)' },
  };
}

/** A URL with its password hidden (`redis://:secret@host` → `redis://:***@host`). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/** JSON with `//` and `/* *\/` comments and trailing commas, as in config/paperboy.jsonc. */
export function stripJsonComments(text: string): string {
  return scanJson(scanJson(text, 'comments'), 'trailing-commas');
}

function scanJson(text: string, strip: 'comments' | 'trailing-commas'): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (strip === 'comments' && c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (strip === 'comments' && c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      // Keep newlines so JSON.parse positions stay on the file's lines.
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (strip === 'trailing-commas' && c === ',' && /^\s*[}\]]/.test(text.slice(i + 1, i + 200))) {
      out += ' ';
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The User-Agent paperboy sends: its name and version plus the operator's contact. */
export function userAgent(config: Config, version: string): string {
  return `paperboy/${version} (+${config.http.contact})`;
}

/** The enabled sources, digest paths resolved against the working directory. */
export function enabledSources(config: Config, cwd = process.cwd()): SourceSpec[] {
  return config.sources
    .filter((s) => s.enabled)
    .map((s) =>
      s.type === 'digest'
        ? { name: s.name, type: 'digest', path: resolveSourcePath(s.path, cwd) }
        : { name: s.name, type: 'feed', url: s.url },
    );
}

/** A digest source's path, resolved against the working directory. */
export function resolveSourcePath(path: string, cwd = process.cwd()): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}
