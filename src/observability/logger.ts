/**
 * Structured logs with pino: JSON lines by default, pino-pretty for a terminal. Secrets never
 * reach the output: token-like fields are redacted by path, and every string (message, error
 * message and stack included) is scrubbed of Discord bot tokens, webhook URLs and interaction
 * tokens before it is written.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

/** Three base64url segments: the shape of a Discord bot token. */
const BOT_TOKEN = /\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}\b/g;
const WEBHOOK = /(\/(?:api\/(?:v\d+\/)?)?webhooks\/\d+\/)[A-Za-z0-9_.-]+/g;
const INTERACTION = /(\/interactions\/\d+\/)[A-Za-z0-9_.-]+/g;
const BEARER = /\b(Bot|Bearer)\s+[A-Za-z0-9_.-]{20,}/g;

/** A string with anything that looks like a Discord secret replaced. */
export function scrub(text: string): string {
  return text
    .replace(BOT_TOKEN, '[redacted-token]')
    .replace(WEBHOOK, '$1[redacted]')
    .replace(INTERACTION, '$1[redacted]')
    .replace(BEARER, '$1 [redacted]');
}

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: scrub(value.message) };
    if (value.stack) out.stack = scrub(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, depth + 1);
  return out;
}

export interface LoggerOptions {
  level: string;
  /** Human-readable lines (for a terminal) instead of JSON. */
  pretty?: boolean;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = {
    level: opts.level,
    base: { service: 'paperboy' },
    redact: {
      paths: [
        'token',
        '*.token',
        'config.discord.token',
        'discord.token',
        'headers.authorization',
        '*.headers.authorization',
        'authorization',
      ],
      censor: '[redacted]',
    },
    formatters: {
      log: (obj: Record<string, unknown>) => scrubDeep(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? scrub(a) : a instanceof Error ? scrubDeep(a) : a)),
        );
      },
    },
    serializers: { err: (e: unknown) => scrubDeep(e) },
  };
  if (opts.pretty && !opts.destination) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss' },
      },
    });
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
