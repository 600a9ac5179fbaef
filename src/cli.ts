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
  loadConfig,
  redactConfig,
  redactUrl,
  resolveSourcePath,
  userAgent,
} from './config.js';
import { arxivKey, fingerprintKey, type Paper, parseArxivRef } from './core/paper.js';
import { type IngestReport, ingest, type SourceSpec } from './pipeline/ingest.js';
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
  paperboy search "<words>" [--limit N] [--json]           papers whose title or abstract has every word
  paperboy config check                                    print the effective config (secrets redacted)

Options:
  --store URL      store to use (sqlite://path, redis://…, postgres://…); overrides PAPERBOY_STORE_URL
  --json           machine-readable output on stdout
  --force          re-read digest files even when their content is unchanged
  -h, --help       this text
  -v, --version    the version

Environment: PAPERBOY_CONFIG (config file, default config/paperboy.jsonc), PAPERBOY_STORE_URL,
PAPERBOY_CONTACT (sent in the User-Agent), DISCORD_TOKEN.`;

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
        return await withStore(config, (store) => searchCommand(args, values, store, io));
      default:
        throw new UsageError(`unknown command "${command}" (try: ingest, show, search, config check)`);
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

/** Turns command-line arguments into sources: URLs are feeds, paths are digest files or directories. */
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

function sourcesFromConfig(config: Config): SourceSpec[] {
  return config.sources
    .filter((s) => s.enabled)
    .map((s) =>
      s.type === 'digest'
        ? { name: s.name, type: 'digest', path: resolveSourcePath(s.path) }
        : { name: s.name, type: 'feed', url: s.url },
    );
}

async function ingestCommand(
  args: readonly string[],
  values: Values,
  config: Config,
  store: Store,
  io: Io,
): Promise<number> {
  const sources = args.length > 0 ? sourcesFromArgs(args) : sourcesFromConfig(config);
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

/** Finds a paper by record id, arXiv id, arXiv/HF URL or exact title. */
export async function findPaper(store: Store, ref: string): Promise<Paper | undefined> {
  const trimmed = ref.trim();
  const candidates: string[] = [];
  if (/^(?:arxiv|fp):/i.test(trimmed)) candidates.push(trimmed.replace(/^arxiv:/i, 'arxiv:'));
  const arxiv = parseArxivRef(trimmed);
  if (arxiv) candidates.push(arxivKey(arxiv.id));
  candidates.push(fingerprintKey(trimmed));
  const resolved = await store.papers.resolve(candidates);
  for (const key of candidates) {
    const id = resolved.get(key);
    if (id === undefined) continue;
    const paper = (await store.papers.getMany([id])).get(id);
    if (paper) return paper;
  }
  return undefined;
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

async function searchCommand(args: readonly string[], values: Values, store: Store, io: Io): Promise<number> {
  const query = args.join(' ');
  const words = searchWords(query);
  if (words.length === 0) throw new UsageError('usage: paperboy search "<words>" [--limit N] [--json]');
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
  const hits: Array<{ paper: Paper; score: number }> = [];
  for await (const paper of store.papers.iterate()) {
    const score = scorePlainWords(paper, words);
    if (score > 0) hits.push({ paper, score });
  }
  hits.sort((a, b) => b.score - a.score || a.paper.title.localeCompare(b.paper.title));
  const top = hits.slice(0, limit);
  if (values.json) {
    io.out(
      JSON.stringify(
        top.map(({ paper, score }) => ({
          id: paper.id,
          arxivId: paper.arxivId ?? null,
          title: paper.title,
          score,
        })),
        null,
        2,
      ),
    );
  } else {
    io.out(`${hits.length} paper(s) match "${query}"${hits.length > limit ? `, showing ${limit}` : ''}`);
    for (const { paper } of top) io.out(`  ${paper.arxivId ?? paper.id}  ${paper.title}`);
  }
  return 0;
}

/** Words of a plain search: NFKC, case-folded runs of letters and digits. */
export function searchWords(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** Every word must occur (as a word) in the title or abstract; title hits count triple. */
export function scorePlainWords(paper: Paper, words: readonly string[]): number {
  const title = new Set(searchWords(paper.title));
  const abstract = new Set(searchWords(paper.abstract));
  let score = 0;
  for (const w of words) {
    const inTitle = title.has(w);
    const inAbstract = abstract.has(w);
    if (!inTitle && !inAbstract) return 0;
    score += (inTitle ? 3 : 0) + (inAbstract ? 1 : 0);
  }
  return score;
}

/** Entry point for bin/paperboy.js. */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), process.env, {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    isTty: process.stderr.isTTY === true,
  });
}
