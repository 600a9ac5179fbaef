/**
 * The `paperboy` command. Parses arguments, loads the config, opens the store and calls the
 * pipeline; prints for people, or JSON with --json. Exit codes: 0 ok, 1 the work failed,
 * 2 bad usage or configuration.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Config,
  ConfigError,
  enabledSources,
  loadConfig,
  redactConfig,
  redactUrl,
  userAgent,
} from './config.js';
import type { Paper } from './core/paper.js';
import { analyzePaper, explainMatch, formatExplanation, type Query } from './core/query/index.js';
import { normalizeQueryText, parseTarget, subscriptionId, targetKey } from './core/subscription.js';
import { limitHeapGrowth } from './heap.js';
import { subscribe } from './pipeline/cycle.js';
import { type IngestReport, ingest, type SourceSpec } from './pipeline/ingest.js';
import { compileQuery, PaperLibrary, QueryError } from './pipeline/library.js';
import { findPaper } from './pipeline/lookup.js';
import { createFetcher } from './sources/http.js';
import { openStore } from './store/keyv-store.js';
import type { Store } from './store/types.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const USAGE = `paperboy ${VERSION} — research papers delivered to Discord

Usage:
  paperboy ingest [<file|dir|url>...] [--json] [--force]   ingest digests and feeds (default: the configured sources)
  paperboy show <id | arXiv id | URL | title> [--json]     one paper, every field
  paperboy search "<query>" [--limit N] [--json]           ranked papers matching a filter (see README: filters)
  paperboy explain "<query>" <paper>                       why a paper matches a filter, or not
  paperboy subs add <channel:ID|user:ID> "<query>" [--updates] [--daily]
  paperboy subs list [<channel:ID|user:ID>] [--json]       subscriptions (all, or one target's)
  paperboy subs remove <subscription id>                   remove one
  paperboy once [--dry-run] [--json]                       one whole cycle: ingest, match, post (or print with --dry-run)
  paperboy run                                             the service: scheduler, Discord bot, /healthz and /metrics
  paperboy config check                                    print the effective config (secrets redacted)

Options:
  --store URL      store to use (sqlite://path, redis://…, postgres://…); overrides PAPERBOY_STORE_URL
  --json           machine-readable output on stdout
  --force          re-read files even when their content is unchanged
  --dry-run        once: print what would be posted to whom instead of posting
  --updates        subs add: also post when a matched paper gets a new version or abstract
  --daily          subs add: the target gets a daily digest at subscriptions.defaultTime (default: after each cycle)
  -h, --help       this text
  -v, --version    the version

Environment: PAPERBOY_CONFIG (config file, default config/paperboy.jsonc), PAPERBOY_STORE_URL,
PAPERBOY_CONTACT (sent in the User-Agent), DISCORD_TOKEN, DISCORD_API_URL, DISCORD_GUILD_ID,
PAPERBOY_HTTP_HOST, PAPERBOY_HTTP_PORT, PAPERBOY_LOG_LEVEL.`;

/** Something the person typed or configured is wrong: print it and exit 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTty: boolean;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`paperboy: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(VERSION);
    return 0;
  }
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.out(USAGE);
    return 0;
  }
  try {
    // --store is validated like every other setting: it is the strongest store override.
    const { config, file } = loadConfig(
      values.store === undefined ? env : { ...env, PAPERBOY_STORE_URL: values.store },
    );
    switch (command) {
      case 'config':
        return configCommand(args, config, file, io);
      case 'ingest':
        return await withStore(config, (store) => ingestCommand(args, values, config, store, io));
      case 'show':
        return await withStore(config, (store) => showCommand(args, values, store, io));
      case 'search':
        return await withStore(config, (store) => searchCommand(args, values, config, store, io));
      case 'explain':
        return await withStore(config, (store) => explainCommand(args, store, io));
      case 'subs':
        return await withStore(config, (store) => subsCommand(args, values, config, store, io));
      case 'once':
        return await onceCommand(values, config, env, io);
      case 'run':
        return await runService(config, VERSION);
      default:
        throw new UsageError(
          `unknown command "${command}" (try: ingest, show, search, explain, subs, once, run, config check)`,
        );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`paperboy: ${err.message}`);
      return 2;
    }
    if (err instanceof UsageError) {
      io.err(`paperboy: ${err.message}`);
      return 2;
    }
    io.err(`paperboy: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      store: { type: 'string' },
      limit: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      updates: { type: 'boolean', default: false },
      daily: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
}
type Values = ReturnType<typeof parse>['values'];

async function withStore(config: Config, fn: (store: Store) => Promise<number>): Promise<number> {
  let store: Store;
  try {
    store = await openStore(config.store.url);
  } catch (err) {
    throw new Error(`cannot open the store ${redactUrl(config.store.url)}: ${(err as Error).message}`);
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function configCommand(args: readonly string[], config: Config, file: string | undefined, io: Io): number {
  if (args[0] !== 'check') throw new UsageError('usage: paperboy config check');
  io.err(file ? `config: ${file} is valid` : 'config: no config file, using defaults');
  io.out(JSON.stringify(redactConfig(config), null, 2));
  return 0;
}

/**
 * Turns command-line arguments into sources: URLs are feeds, paths are file sources (digests or
 * saved feeds, or a directory of them).
 */
export function sourcesFromArgs(args: readonly string[], cwd = process.cwd()): SourceSpec[] {
  return args.map((arg) => {
    if (/^https?:\/\//i.test(arg)) {
      if (!URL.canParse(arg)) throw new UsageError(`${arg}: not a valid URL`);
      return { name: arg, type: 'feed', url: arg };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg))
      throw new UsageError(`${arg}: only http(s) URLs can be fetched`);
    const abs = resolve(cwd, arg);
    return { name: relative(cwd, abs) || '.', type: 'digest', path: abs };
  });
}

async function ingestCommand(
  args: readonly string[],
  values: Values,
  config: Config,
  store: Store,
  io: Io,
): Promise<number> {
  const sources = args.length > 0 ? sourcesFromArgs(args) : enabledSources(config);
  if (sources.length === 0)
    throw new UsageError('nothing to ingest: no arguments and no enabled sources in the config');
  const fetcher = sources.some((s) => s.type === 'feed')
    ? createFetcher({ ...config.http, userAgent: userAgent(config, VERSION) })
    : undefined;
  try {
    const report = await ingest(sources, {
      store,
      ...(fetcher ? { fetcher } : {}),
      ...config.ingest,
      force: values.force ?? false,
      ...(io.isTty ? { onProgress: (m: string) => io.err(m) } : {}),
    });
    if (values.json) io.out(JSON.stringify(report, null, 2));
    else io.out(formatIngestReport(report));
    const read = report.sources.some((s) => s.status !== 'failed' && s.status !== 'backing-off');
    return read ? 0 : 1;
  } finally {
    await fetcher?.close();
  }
}

/** The human summary of an ingest pass. */
export function formatIngestReport(r: IngestReport): string {
  const lines = [
    `parsed ${r.parsed} · new ${r.new} · updated ${r.updated} · duplicates ${r.duplicates} · ${r.durationMs} ms`,
  ];
  for (const s of r.sources) {
    const counts = `${s.parsed} parsed, ${s.new} new, ${s.updated} updated, ${s.duplicates} duplicates`;
    lines.push(
      `  ${s.source}: ${s.status}${s.status === 'failed' || s.status === 'backing-off' ? '' : ` (${counts})`}`,
    );
    for (const d of s.details) lines.push(`    ${d}`);
    if (s.error !== undefined) lines.push(`    error: ${s.error}`);
  }
  if (r.failedSources.length > 0) {
    lines.push(`${r.failedSources.length} problem(s):`);
    for (const f of r.failedSources) lines.push(`  ${f.source}: ${f.error}`);
  }
  return lines.join('\n');
}

async function showCommand(args: readonly string[], values: Values, store: Store, io: Io): Promise<number> {
  const ref = args.join(' ');
  if (ref.trim() === '') throw new UsageError('usage: paperboy show <id | arXiv id | URL | title>');
  const paper = await findPaper(store, ref);
  if (!paper) {
    io.err(`paperboy: no paper "${ref}" in the store (try: paperboy search "${ref}")`);
    return 1;
  }
  io.out(values.json ? JSON.stringify(paper, null, 2) : formatPaper(paper));
  return 0;
}

/** Every field of a paper, for people. */
export function formatPaper(p: Paper): string {
  const rows: Array<[string, string | undefined]> = [
    ['id', p.id],
    ['arXiv', p.arxivId ? `${p.arxivId}${p.version !== undefined ? ` (v${p.version})` : ''}` : undefined],
    ['title', p.title],
    ['authors', p.authors.length > 0 ? p.authors.join(', ') : undefined],
    ['categories', p.categories.length > 0 ? p.categories.join(', ') : undefined],
    ['published', p.published],
    ['abs', p.links.abs],
    ['pdf', p.links.pdf],
    ['hf', p.links.hf],
    ['code', p.links.code.length > 0 ? p.links.code.join(' ') : undefined],
    ['sources', p.sources.join(', ')],
    ['first seen', p.firstSeen],
    ['updated', p.updatedAt],
    [
      'updates',
      p.updates
        ?.map(
          (u) => `${u.at} ${u.kind}${u.toVersion ? ` v${u.fromVersion}→v${u.toVersion}` : ''} (${u.source})`,
        )
        .join('; '),
    ],
  ];
  const out = rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k.padEnd(11)} ${v}`);
  out.push('', p.abstract);
  return out.join('\n');
}

async function searchCommand(
  args: readonly string[],
  values: Values,
  config: Config,
  store: Store,
  io: Io,
): Promise<number> {
  const text = args.join(' ');
  if (text.trim() === '') throw new UsageError('usage: paperboy search "<query>" [--limit N] [--json]');
  const query = parseOrThrow(text);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
  const library = await PaperLibrary.load(store, { windowDays: config.search.windowDays });
  const result = await library.search(query, { limit });
  const papers = await library.papers(result.hits.map((h) => h.paperId));
  const byId = new Map(papers.map((p) => [p.id, p]));
  if (values.json) {
    io.out(
      JSON.stringify(
        result.hits.map((h) => {
          const p = byId.get(h.paperId);
          return {
            id: h.paperId,
            arxivId: p?.arxivId ?? null,
            title: p?.title ?? '',
            score: Math.round(h.score * 1000) / 1000,
            terms: h.terms,
            firstSeen: p?.firstSeen ?? null,
            url: p?.links.abs ?? p?.links.hf ?? null,
          };
        }),
        null,
        2,
      ),
    );
  } else {
    io.out(`${result.total} paper(s) match ${text}${result.total > limit ? `, showing ${limit}` : ''}`);
    for (const h of result.hits) {
      const p = byId.get(h.paperId);
      io.out(`  ${h.score.toFixed(2).padStart(6)}  ${p?.arxivId ?? h.paperId}  ${p?.title ?? ''}`);
    }
  }
  return 0;
}

/** Parses a filter, or throws a usage error that points at the column. */
function parseOrThrow(text: string): Query {
  try {
    return compileQuery(text);
  } catch (err) {
    if (err instanceof QueryError) {
      throw new UsageError(`${err.problem}\n  ${text}\n  ${' '.repeat(Math.max(0, err.column - 1))}^`);
    }
    throw err;
  }
}

async function explainCommand(args: readonly string[], store: Store, io: Io): Promise<number> {
  const [text, ...rest] = args;
  const ref = rest.join(' ');
  if (text === undefined || ref.trim() === '')
    throw new UsageError('usage: paperboy explain "<query>" <paper>');
  const query = parseOrThrow(text);
  const paper = await findPaper(store, ref);
  if (!paper) {
    io.err(`paperboy: no paper "${ref}" in the store (try: paperboy search "${ref}")`);
    return 1;
  }
  const explanation = explainMatch(query, analyzePaper(paper));
  io.out(`${paper.arxivId ?? paper.id}  ${paper.title}`);
  io.out(formatExplanation(explanation));
  return explanation.matched ? 0 : 3;
}

async function subsCommand(
  args: readonly string[],
  values: Values,
  config: Config,
  store: Store,
  io: Io,
): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'add') {
    const [targetText, ...queryParts] = rest;
    const target = targetText === undefined ? undefined : parseTarget(targetText);
    const text = normalizeQueryText(queryParts.join(' '));
    if (!target || text === '')
      throw new UsageError('usage: paperboy subs add <channel:ID|user:ID> "<query>" [--updates] [--daily]');
    parseOrThrow(text);
    const now = new Date();
    const library = await PaperLibrary.load(store, { windowDays: config.search.windowDays });
    const result = await subscribe(
      store,
      library,
      {
        id: subscriptionId(target, text),
        target,
        query: text,
        createdBy: 'cli',
        createdAt: now.toISOString(),
        mode: values.daily ? 'daily' : 'immediate',
        notifyUpdates: values.updates ?? false,
        backfillHours: config.subscriptions.backfillHours,
      },
      { previewDays: config.subscriptions.previewDays, now },
    );
    if (values.daily && (await store.targets.get(targetKey(target)))?.mode !== 'daily') {
      // Delivery times belong to the target: --daily makes it a daily digest at the default time.
      await store.targets.set({
        target,
        mode: 'daily',
        time: config.subscriptions.defaultTime,
        timezone: config.subscriptions.defaultTimezone,
      });
    }
    if (values.json) {
      io.out(
        JSON.stringify(
          { ...result, preview: { ...result.preview, top: result.preview.top.map((p) => p.id) } },
          null,
          2,
        ),
      );
      return 0;
    }
    io.out(
      `${result.created ? 'added' : 'already there'} ${result.subscription.id}  ${targetKey(target)}  ${text}`,
    );
    io.out(`  matched ${result.preview.total} paper(s) first seen in the last ${result.preview.days} days`);
    for (const p of result.preview.top) io.out(`    ${p.arxivId ?? p.id}  ${p.title}`);
    if (result.backfilled > 0) io.out(`  ${result.backfilled} queued for the first digest`);
    return 0;
  }
  if (action === 'list') {
    const filter = rest[0];
    if (filter !== undefined && !parseTarget(filter))
      throw new UsageError(`"${filter}" is not a target: use channel:<id> or user:<id>`);
    const subs =
      filter === undefined
        ? await store.subscriptions.list()
        : await store.subscriptions.listByTarget(filter);
    subs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    if (values.json) io.out(JSON.stringify(subs, null, 2));
    else if (subs.length === 0) io.out('no subscriptions');
    else
      for (const s of subs) {
        const paused = s.paused ? `  [paused since ${s.paused.at}: ${s.paused.reason}]` : '';
        io.out(`${s.id}  ${targetKey(s.target).padEnd(28)} ${s.mode.padEnd(9)} ${s.query}${paused}`);
      }
    return 0;
  }
  if (action === 'remove') {
    const id = rest[0];
    if (id === undefined) throw new UsageError('usage: paperboy subs remove <subscription id>');
    if (!(await store.subscriptions.remove(id))) {
      io.err(`paperboy: no subscription ${id} (see: paperboy subs list)`);
      return 1;
    }
    io.out(`removed ${id}`);
    return 0;
  }
  throw new UsageError('usage: paperboy subs add|list|remove …');
}

async function runService(config: Config, version: string): Promise<number> {
  const { runServiceUntilStopped } = await import('./service.js');
  return runServiceUntilStopped(config, version);
}

async function onceCommand(values: Values, config: Config, env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const { runOnce } = await import('./main.js');
  const result = await runOnce(config, {
    dryRun: values['dry-run'] ?? false,
    version: VERSION,
    env,
    ...(io.isTty ? { onProgress: (m: string) => io.err(m) } : {}),
  });
  if (values.json) io.out(JSON.stringify(result.json, null, 2));
  else io.out(result.text);
  return result.exitCode;
}

/** Entry point for bin/paperboy.js. */
export async function main(): Promise<void> {
  try {
    limitHeapGrowth();
  } catch (err) {
    process.stderr.write(`paperboy: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  process.exitCode = await runCli(process.argv.slice(2), process.env, {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    isTty: process.stderr.isTTY === true,
  });
}
