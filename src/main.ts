/**
 * The composition root: config → store → library → sources → Discord → scheduler. The only
 * module that wires the pure core, the store, the fetcher and discord.js together.
 */
import { REST } from 'discord.js';
import { type Config, enabledSources, userAgent } from './config.js';
import type { Paper } from './core/paper.js';
import { type Target, targetKey } from './core/subscription.js';
import { createRestPort } from './discord/rest-port.js';
import { type CycleReport, runCycle } from './pipeline/cycle.js';
import {
  type DeliverOptions,
  type DiscordPort,
  deliverTarget,
  planTargetDigest,
  type TargetDeliveryReport,
} from './pipeline/deliver.js';
import { PaperLibrary } from './pipeline/library.js';
import { createFetcher, type Fetcher } from './sources/http.js';
import { openStore } from './store/keyv-store.js';
import type { Store } from './store/types.js';

export function createConfiguredFetcher(config: Config, version: string): Fetcher {
  return createFetcher({ ...config.http, userAgent: userAgent(config, version) });
}

/** Delivery options from the config, for a port and an instance id. */
export function deliveryOptions(
  config: Config,
  store: Store,
  discord: DiscordPort,
  owner: string,
): Omit<DeliverOptions, 'logger'> {
  return {
    store,
    discord,
    owner,
    threadThreshold: config.delivery.threadThreshold,
    maxPerDigest: config.delivery.maxPerDigest,
    retries: config.delivery.retries,
    backoffBaseMs: config.delivery.backoffBaseMs,
    claimTtlMs: config.delivery.claimTtlSeconds * 1000,
    moreHint: (queries) => (queries.length === 1 ? `/paper search query:${queries[0]}` : '/paper search'),
  };
}

/** Delivers to many targets at once; the REST queue keeps Discord's per-route and global limits. */
export async function deliverAll(
  targets: readonly Target[],
  opts: DeliverOptions,
  concurrency: number,
): Promise<TargetDeliveryReport[]> {
  const out: TargetDeliveryReport[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      out[i] = await deliverTarget(targets[i] as Target, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return out;
}

export interface OnceResult {
  text: string;
  json: unknown;
  exitCode: number;
}

/**
 * `paperboy once`: one whole cycle. With `dryRun`, nothing is posted: the digests each target
 * would get are printed instead. The papers are ingested for real, so their matches stay queued
 * in the outbox (a later run posts them; unqueued, they would never be matched again).
 */
export async function runOnce(
  config: Config,
  opts: { dryRun: boolean; version: string; env: NodeJS.ProcessEnv; onProgress?: (m: string) => void },
): Promise<OnceResult> {
  if (!opts.dryRun && !config.discord.token) {
    return {
      text: 'paperboy: DISCORD_TOKEN is not set: nothing can be posted. Use --dry-run to see what would be posted.',
      json: { error: 'DISCORD_TOKEN is not set' },
      exitCode: 2,
    };
  }
  const store = await openStore(config.store.url);
  const sources = enabledSources(config);
  const fetcher = sources.some((s) => s.type === 'feed')
    ? createConfiguredFetcher(config, opts.version)
    : undefined;
  try {
    const library = await PaperLibrary.load(store, { windowDays: config.search.windowDays });
    const cycle = await runCycle({
      store,
      library,
      sources,
      ...(fetcher ? { fetcher } : {}),
      ...config.ingest,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    const subs = await store.subscriptions.list();
    const targets = cycle.match.targets;
    if (opts.dryRun) {
      const plans = [];
      for (const target of targets) {
        const key = targetKey(target);
        const plan = await planTargetDigest(
          target,
          subs.filter((s) => targetKey(s.target) === key),
          deliveryOptions(config, store, dryRunPort, 'dry-run'),
        );
        // Matches of subscriptions removed since are not posted: nothing to show for them.
        if (plan.batches.length > 0) plans.push({ target: key, plan });
      }
      const json = {
        cycle: cycleSummary(cycle),
        subscriptions: subs.length,
        digests: plans.map(({ target, plan }) => ({
          target,
          papers: plan.total,
          messages: plan.batches.length,
          posts: plan.batches.map((b) => ({
            papers: b.deliveryIds.length,
            summarized: b.summarizes ?? false,
            body: b.body,
          })),
        })),
      };
      return { text: formatDryRun(cycle, plans, subs.length), json, exitCode: 0 };
    }
    const rest = new REST(config.discord.apiUrl ? { api: config.discord.apiUrl } : {}).setToken(
      config.discord.token as string,
    );
    const port = createRestPort(rest);
    const reports = await deliverAll(
      targets,
      deliveryOptions(config, store, port, `once-${process.pid}`),
      config.delivery.concurrency,
    );
    const json = { cycle: cycleSummary(cycle), deliveries: reports };
    const lines = [formatCycle(cycle)];
    for (const r of reports) {
      lines.push(
        `  ${r.target}: ${r.outcome}, ${r.delivered} posted in ${r.messages} message(s)${r.pending ? `, ${r.pending} pending` : ''}${r.error ? ` — ${r.error}` : ''}`,
      );
    }
    const failed = reports.some((r) => r.outcome === 'failed');
    return { text: lines.join('\n'), json, exitCode: failed ? 1 : 0 };
  } finally {
    await fetcher?.close();
    await store.close();
  }
}

/** A port that refuses to send: dry runs only plan. */
const dryRunPort: DiscordPort = {
  send: () => Promise.reject(new Error('dry run: nothing is sent')),
  openDm: () => Promise.reject(new Error('dry run: nothing is sent')),
  startThread: () => Promise.reject(new Error('dry run: nothing is sent')),
};

export function cycleSummary(c: CycleReport) {
  const statuses = c.ingest.sources.map((s) => s.status);
  return {
    startedAt: c.startedAt,
    durationMs: c.durationMs,
    sources: {
      read: statuses.filter((s) => s !== 'failed' && s !== 'backing-off' && s !== 'stopped').length,
      failed: statuses.filter((s) => s === 'failed' || s === 'backing-off').length,
      noAnnouncement: statuses.filter((s) => s === 'no-announcement').length,
      stale: c.stale.length,
    },
    staleSources: c.stale,
    failedSources: c.ingest.failedSources,
    papers: {
      parsed: c.ingest.parsed,
      new: c.ingest.new,
      updated: c.ingest.updated,
      duplicates: c.ingest.duplicates,
    },
    matched: c.match.matched,
    enqueued: c.match.enqueued,
  };
}

function formatCycle(c: CycleReport): string {
  const s = cycleSummary(c);
  const lines = [
    `cycle: ${s.sources.read} source(s) read, ${s.sources.failed} failed${s.sources.stale ? `, ${s.sources.stale} stale` : ''}${s.sources.noAnnouncement ? `, ${s.sources.noAnnouncement} with no announcement` : ''} · papers new ${s.papers.new}, updated ${s.papers.updated} · ${s.matched} match(es), ${s.enqueued} queued · ${s.durationMs} ms`,
  ];
  for (const f of s.failedSources) lines.push(`  problem: ${f.source}: ${f.error}`);
  return lines.join('\n');
}

interface BodyLike {
  content?: string;
  embeds?: Array<{ title?: string; description?: string; url?: string }>;
}

/** Discord markdown escapes removed, for a terminal. */
const unescapeMarkdown = (text: string) => text.replace(/\\([\\*_~`|>#[\]()-])/g, '$1');

function formatDryRun(
  cycle: CycleReport,
  plans: ReadonlyArray<{ target: string; plan: Awaited<ReturnType<typeof planTargetDigest>> }>,
  subCount: number,
): string {
  const lines = [formatCycle(cycle)];
  if (subCount === 0) {
    lines.push('no subscriptions: nothing to post (add one with: paperboy subs add channel:<id> "<query>")');
    return lines.join('\n');
  }
  if (plans.length === 0) lines.push('nothing pending: no new paper matches a subscription');
  for (const { target, plan } of plans) {
    const papers = plan.batches.reduce((n, b) => n + (b.summarizes ? 0 : b.deliveryIds.length), 0);
    lines.push(
      '',
      `→ ${target}: ${plan.total} paper(s) in ${plan.batches.length} message(s) (dry run: not posted)`,
    );
    for (const b of plan.batches) {
      const body = b.body as BodyLike;
      if (body.content) lines.push(`  ${body.content.split('\n')[0]}`);
      for (const e of body.embeds ?? []) {
        lines.push(`  • ${unescapeMarkdown(e.title ?? '')}${e.url ? `  <${e.url}>` : ''}`);
        if (e.description) lines.push(`    ${unescapeMarkdown(e.description.replace(/\s+/g, ' '))}`);
      }
    }
    if (papers < plan.total) lines.push(`  (${plan.total - papers} more counted in the closing notice)`);
  }
  return lines.join('\n');
}

export type { Paper };
