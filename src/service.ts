/**
 * `paperboy run`: the long-running service. Wires the store, the library, the sources, the
 * Discord bot (when a token is set), the scheduler and the health/metrics server, and shuts
 * them down in order on SIGTERM/SIGINT.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type Config, enabledSources } from './config.js';
import { ABORTED, untilAborted } from './core/abort.js';
import { type Target, type TargetSettings, targetKey } from './core/subscription.js';
import { type Bot, createBot } from './discord/bot.js';
import type { CommandContext } from './discord/commands.js';
import { createConfiguredFetcher, cycleSummary, deliverAll, deliveryOptions } from './main.js';
import { type HealthServer, startHealthServer } from './observability/http.js';
import { createLogger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { type CycleReport, runCycle } from './pipeline/cycle.js';
import {
  type DeliverOptions,
  type DiscordPort,
  deliverTarget,
  planTargetDigest,
  type TargetDeliveryReport,
  UnauthorizedError,
} from './pipeline/deliver.js';
import { PaperLibrary } from './pipeline/library.js';
import { createScheduler, type Scheduler } from './schedule.js';
import type { Fetcher } from './sources/http.js';
import { openStore } from './store/keyv-store.js';
import type { Store } from './store/types.js';

export interface ServiceOptions {
  config: Config;
  version: string;
  logger?: Logger;
  now?: () => Date;
  /** Called when the service decides to stop by itself (401 from Discord). */
  onFatal?: (reason: string) => void;
  /** Slash-command answers slower than this are deferred first (default `DEFER_AFTER_MS`). */
  deferRepliesAfterMs?: number;
  /**
   * Aborted when a signal comes before the service is up: connecting to Discord is given up
   * on, what was opened is closed, and `startService` rejects with {@link StoppedDuringStart}.
   */
  signal?: AbortSignal;
}

/** What {@link startService} rejects with when its `signal` aborted the start. */
export class StoppedDuringStart extends Error {
  override readonly name = 'StoppedDuringStart';
}

/** `p`, unless `signal` aborts first: then a {@link StoppedDuringStart}. */
async function unlessStopped<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  const r = await untilAborted(p, signal);
  if (r === ABORTED) throw new StoppedDuringStart('stopped while starting');
  return r;
}

export interface LastCycle {
  summary: ReturnType<typeof cycleSummary>;
  deliveries: TargetDeliveryReport[];
  finishedAt: string;
  stale: string[];
}

export interface Service {
  readonly store: Store;
  readonly library: PaperLibrary;
  readonly bot: Bot | undefined;
  readonly health: HealthServer;
  readonly metrics: Metrics;
  readonly instanceId: string;
  /** Runs a cycle now (or waits for the running one) and delivers to immediate targets. */
  cycle(): Promise<CycleReport | undefined>;
  lastCycle(): LastCycle | undefined;
  /** Stops scheduling, waits for in-flight work (bounded), closes the gateway and the store. */
  stop(reason?: string): Promise<void>;
}

/** How often the outbox is swept of unlisted records, and how old such a record must be. */
const SWEEP_EVERY_MS = 24 * 3_600_000;
const UNLISTED_GRACE_MS = 24 * 3_600_000;
/** How often the search index is filled again from the store when it has a window. */
const REFRESH_INDEX_EVERY_MS = 24 * 3_600_000;

/**
 * How long `/healthz` waits for the store to answer a ping. A store that does not answer in time
 * is reported unreachable, so the probe itself answers (Docker's HEALTHCHECK gives it 5 s):
 * a Postgres query waits for a free connection as long as it takes (`keyv-postgres.ts`).
 */
export const HEALTH_PING_TIMEOUT_MS = 2000;

/** Whether `ping` resolves within `ms`; false when it rejects or takes longer. */
export async function answersWithin(ping: () => Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([ping().then(() => true), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config } = opts;
  const now = opts.now ?? (() => new Date());
  const logger =
    opts.logger ?? createLogger({ level: config.service.logLevel, pretty: process.stdout.isTTY === true });
  const metrics = createMetrics();
  const instanceId = `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // A store slow to answer (Redis or Postgres starting) does not hold up a SIGTERM: the start
  // gives up, and the store is closed once it does open.
  const opening = openStore(config.store.url, {
    onError: (err) => logger.warn({ err }, 'store connection problem'),
  });
  const store = await unlessStopped(opening, opts.signal).catch((err: unknown) => {
    if (err instanceof StoppedDuringStart) {
      logger.info('stopped while opening the store');
      opening.then((s) => s.close()).catch(() => undefined);
    }
    throw err;
  });
  // The search index on its own thread: a cycle's indexing overlaps its matching and writing.
  const library = await PaperLibrary.load(store, {
    searchThread: 'worker',
    windowDays: config.search.windowDays,
    now,
  });
  /** When the search index was last filled from the store (see {@link refreshIndex}). */
  let lastRefresh = now().getTime();
  logger.info({ store: redact(config.store.url) }, 'store opened');
  // The index fills on its own thread meanwhile; start-up does not wait for it.
  library.count().then(
    (papers) => {
      metrics.searchIndexPapers(papers);
      logger.info({ papers }, 'search index ready');
    },
    (err) => {
      if (!stopping) logger.warn({ err }, 'search index failed to fill');
    },
  );
  const sources = enabledSources(config);
  const fetcher: Fetcher | undefined = sources.some((s) => s.type === 'feed')
    ? createConfiguredFetcher(config, opts.version)
    : undefined;

  let last: LastCycle | undefined;
  /** When the outbox was last swept of unlisted records (see {@link sweepOutbox}). */
  let lastSweep = Number.NEGATIVE_INFINITY;
  let running: Promise<CycleReport | undefined> | undefined;
  let stopping = false;
  /** Aborted as `stop` begins: the running cycle reads no further source (see `IngestOptions.signal`). */
  const stopIngest = new AbortController();
  /** Aborted by `stop` once its wait is over: posts still in flight are handed back. */
  const handBack = new AbortController();
  let bot: Bot | undefined;
  let scheduler: Scheduler | undefined;

  const port: DiscordPort = {
    send: (...a) => requireBot().port.send(...a),
    openDm: (...a) => requireBot().port.openDm(...a),
    startThread: (...a) => requireBot().port.startThread(...a),
  };
  function requireBot(): Bot {
    if (!bot) throw new Error('no Discord connection');
    return bot;
  }
  const deliverOpts = (): DeliverOptions => ({
    ...deliveryOptions(config, store, port, instanceId),
    logger,
    signal: handBack.signal,
    onPaused: (target, reason) => {
      metrics.deliveryFailure('refused');
      logger.warn({ target: targetKey(target), reason }, 'target paused');
    },
  });

  /** Delivers to `targets`, or, without a bot, logs what would be posted. */
  const deliver = async (targets: readonly Target[]): Promise<TargetDeliveryReport[]> => {
    if (targets.length === 0) return [];
    if (!bot) {
      for (const target of targets) {
        const key = targetKey(target);
        const subs = await store.subscriptions.listByTarget(key);
        const plan = await planTargetDigest(target, subs, deliverOpts());
        logger.info(
          { target: key, papers: plan.total, messages: plan.batches.length },
          'no DISCORD_TOKEN: would post',
        );
      }
      return [];
    }
    try {
      const reports = await deliverAll(targets, deliverOpts(), config.delivery.concurrency);
      for (const r of reports) {
        metrics.posts(r.delivered);
        if (r.outcome === 'failed') metrics.deliveryFailure('transient');
      }
      return reports;
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        logger.fatal(err.message);
        opts.onFatal?.(err.message);
        return [];
      }
      throw err;
    }
  };

  const immediateTargets = async (candidates: readonly Target[]): Promise<Target[]> => {
    const settings = new Map((await store.targets.list()).map((s) => [targetKey(s.target), s]));
    return candidates.filter((t) => settings.get(targetKey(t))?.mode !== 'daily');
  };

  const runOneCycle = async (): Promise<CycleReport | undefined> => {
    const started = performance.now();
    const report = await runCycle({
      store,
      library,
      sources,
      ...(fetcher ? { fetcher } : {}),
      ...config.ingest,
      now,
      signal: stopIngest.signal,
    });
    const targets = await immediateTargets(report.match.targets);
    const deliveries = await deliver(targets);
    deliveries.push(...(await probePaused()));
    const summary = cycleSummary(report);
    const stale = report.stale;
    last = { summary, deliveries, finishedAt: now().toISOString(), stale };
    const seconds = (performance.now() - started) / 1000;
    metrics.recordCycle({
      papersNew: report.ingest.new,
      papersUpdated: report.ingest.updated,
      matches: report.match.matched,
      durationSeconds: seconds,
      sourcesFailing: report.ingest.sources.filter((s) => s.failingSince !== undefined).length,
      sourcesStale: report.stale.length,
      finishedAt: now(),
    });
    metrics.subscriptions((await store.subscriptions.list()).length);
    // Once the index has caught up with the cycle; the cycle does not wait for it.
    library.count().then(
      (n) => metrics.searchIndexPapers(n),
      () => undefined,
    );
    // Once a cycle: the index's planned counts, not a read of every queued delivery.
    metrics.outboxPending((await store.outbox.stats({ exact: false })).pending);
    await sweepOutbox();
    await refreshIndex();
    logger.info(
      {
        sources: summary.sources,
        papers: summary.papers,
        matches: summary.matched,
        queued: summary.enqueued,
        posted: deliveries.reduce((n, d) => n + d.delivered, 0),
        failedDeliveries: deliveries.filter((d) => d.outcome === 'failed').length,
        pausedTargets: deliveries.filter((d) => d.outcome === 'paused').length,
        durationMs: Math.round(seconds * 1000),
      },
      'cycle',
    );
    for (const f of summary.failedSources) logger.warn({ source: f.source, error: f.error }, 'source failed');
    for (const name of report.stale)
      logger.warn({ source: name }, 'source is stale: nothing new for longer than it normally goes quiet');
    return report;
  };

  /**
   * Once a day (the first cycle after start, then a day apart): deletes outbox records a pass
   * killed between writing and listing left behind, planned over a day ago (its replay plans
   * them again). A failure is logged and tried again next cycle: the cycle's work is done.
   */
  const sweepOutbox = async (): Promise<void> => {
    const at = now().getTime();
    if (at - lastSweep < SWEEP_EVERY_MS) return;
    try {
      const swept = await store.outbox.sweepUnlisted({ olderThanMs: UNLISTED_GRACE_MS, now: new Date(at) });
      const expired = await store.purgeExpired();
      lastSweep = at;
      if (swept > 0)
        logger.info({ records: swept }, 'outbox: deleted records no index listed (left by a stopped pass)');
      if (expired > 0)
        logger.info({ deliveries: expired }, 'outbox: deleted settled deliveries past their retention');
    } catch (err) {
      logger.warn({ err }, 'outbox sweep failed; trying again next cycle');
    }
  };

  /**
   * With a search window (`search.windowDays`), once a day after a cycle: the index is filled
   * from the store again, so papers that left the window drop out of it and their memory is
   * given back. A failure is logged and tried again after the next cycle.
   */
  const refreshIndex = async (): Promise<void> => {
    const at = now().getTime();
    if (config.search.windowDays === 0 || at - lastRefresh < REFRESH_INDEX_EVERY_MS) return;
    try {
      await library.refresh();
      lastRefresh = at;
      const papers = await library.count();
      metrics.searchIndexPapers(papers);
      logger.info({ papers, windowDays: config.search.windowDays }, 'search index refreshed from the store');
    } catch (err) {
      logger.warn({ err }, 'search index refresh failed; trying again after the next cycle');
    }
  };

  const cycle = (): Promise<CycleReport | undefined> => {
    if (stopping) return Promise.resolve(undefined);
    running ??= runOneCycle().finally(() => {
      running = undefined;
    });
    return running;
  };

  /**
   * A paused target (Discord refused posts) is tried again every `pausedRetryHours`: a post
   * that works resumes its subscriptions; another refusal keeps them paused, at the cost of
   * one invalid request per target per interval.
   */
  const probePaused = async (): Promise<TargetDeliveryReport[]> => {
    if (!bot) return [];
    const cutoff = now().getTime() - config.delivery.pausedRetryHours * 3_600_000;
    const due = new Map<string, Target>();
    const all = await store.subscriptions.list();
    const byTarget = new Map<string, typeof all>();
    for (const s of all) {
      const key = targetKey(s.target);
      byTarget.set(key, [...(byTarget.get(key) ?? []), s]);
    }
    for (const [key, subs] of byTarget) {
      if (subs.every((s) => s.paused !== undefined && Date.parse(s.paused.at) <= cutoff)) {
        due.set(key, (subs[0] as (typeof all)[number]).target);
      }
    }
    const out: TargetDeliveryReport[] = [];
    for (const target of due.values()) out.push(await deliverTarget(target, deliverOpts(), true));
    return out;
  };

  const deliverDaily = async (key: string): Promise<void> => {
    const settings = await store.targets.get(key);
    if (!settings) return;
    await deliver([settings.target]);
    await store.targets.set({ ...settings, lastDigestAt: now().toISOString() });
  };

  const commandContext: CommandContext = {
    ...(opts.deferRepliesAfterMs === undefined ? {} : { deferAfterMs: opts.deferRepliesAfterMs }),
    store,
    library,
    settings: config.subscriptions,
    logger,
    now,
    async digestNow(target) {
      const started = now().toISOString();
      await cycle();
      if (!bot) return 'No Discord connection.';
      const key = targetKey(target);
      // The cycle may already have posted here (immediate mode); count that, don't repeat a refusal.
      const prior =
        last && last.finishedAt >= started ? last.deliveries.find((d) => d.target === key) : undefined;
      if (prior?.outcome === 'paused') {
        const subs = await store.subscriptions.listByTarget(key);
        const reason = prior.error ?? subs.find((s) => s.paused)?.paused?.reason ?? 'Discord refused';
        return `Posting here failed: ${reason}. The subscriptions are paused; fix the channel's permissions, then use \`/digest resume\`.`;
      }
      let r = await deliverTarget(target, deliverOpts(), true);
      // Every instance's cycle delivers every pending target, so in a fleet (a sharded one
      // above all, where the command reached just one instance) another may be posting this
      // very digest: wait for it to finish, bounded, then deliver what is left.
      let elsewhere = prior?.outcome === 'claimed-elsewhere';
      const deadline = Date.now() + CLAIM_WAIT_MS;
      while (r.outcome === 'claimed-elsewhere' && Date.now() < deadline) {
        elsewhere = true;
        await new Promise((resolve) => setTimeout(resolve, 250));
        r = await deliverTarget(target, deliverOpts(), true);
      }
      const delivered = r.delivered + (prior?.delivered ?? 0);
      const messages = r.messages + (prior?.messages ?? 0);
      if (r.outcome === 'paused')
        return `Posting here failed: ${r.error ?? 'Discord refused'}. The subscriptions are paused; fix the channel's permissions, then use \`/digest resume\`.`;
      if (r.outcome === 'claimed-elsewhere') return 'Another paperboy instance is posting here right now.';
      if (r.outcome === 'failed')
        return `Posting failed for now (${r.error ?? 'unknown error'}); it will be retried.`;
      if (delivered === 0 && r.summarized === 0)
        return elsewhere
          ? 'Another paperboy instance just posted the new papers here.'
          : 'Nothing new for this channel.';
      return `Posted ${delivered} paper${delivered === 1 ? '' : 's'} in ${messages} message${messages === 1 ? '' : 's'}.`;
    },
    status: () => statusText(),
    scheduleChanged: (settings: TargetSettings) => scheduler?.upsertTarget(scheduleEntry(settings)),
  };

  const statusText = async (): Promise<string> => {
    const stats = await store.outbox.stats();
    const states = await store.sources.getAll();
    const failing = [...states.entries()].filter(([, s]) => s.failingSince !== undefined);
    const next = scheduler?.nextRuns();
    const lines: string[] = [];
    if (!last) lines.push('No cycle has run yet since start-up.');
    else {
      const s = last.summary;
      lines.push(
        `**Last cycle** ${last.finishedAt.slice(0, 16).replace('T', ' ')} UTC (${Math.round(s.durationMs / 100) / 10} s)`,
        `Sources: ${s.sources.read} read, ${s.sources.failed} failed, ${s.sources.noAnnouncement} with no announcement today, ${s.sources.stale} stale${last.stale.length ? ` (${last.stale.join(', ')})` : ''}`,
        `Papers: ${s.papers.new} new, ${s.papers.updated} updated · ${s.matched} matched · ${last.deliveries.reduce((n, d) => n + d.delivered, 0)} posted · ${last.deliveries.filter((d) => d.outcome === 'failed').length} failed deliveries`,
      );
    }
    if (failing.length > 0) {
      lines.push(
        `Failing sources: ${failing.map(([name, s]) => `${name} (since ${s.failingSince?.slice(0, 16)}: ${s.lastError ?? '?'})`).join('; ')}`,
      );
    }
    lines.push(`Outbox: ${stats.pending} pending, ${stats.sent} sent, ${stats.failed} failed`);
    if (bot) {
      const { ids, count } = bot.shards();
      // In a sharded fleet this says which process answered (the one running this guild's shard).
      lines.push(
        `Gateway: shard${ids.length === 1 ? '' : 's'} ${ids.join(', ')} of ${count} on instance ${instanceId}`,
      );
      lines.push(`Invalid Discord requests since start: ${bot.invalidRequests()}`);
    }
    if (next?.ingest)
      lines.push(`Next fetch: ${next.ingest.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    return lines.join('\n');
  };

  if (config.discord.token) {
    bot = createBot({
      token: config.discord.token,
      ...(config.discord.apiUrl ? { apiUrl: config.discord.apiUrl } : {}),
      ...(config.discord.guildId ? { guildId: config.discord.guildId } : {}),
      ...(config.discord.shards !== undefined ? { shards: config.discord.shards } : {}),
      ...(config.discord.shardCount !== undefined ? { shardCount: config.discord.shardCount } : {}),
      logger,
      commands: commandContext,
      onInvalidRequest: (status) => metrics.invalidRequest(status),
      onUnauthorized: (reason) => opts.onFatal?.(reason),
      signal: handBack.signal,
    });
    try {
      // Logging in can take long (Discord slow, or unreachable: its REST calls time out after
      // 15 s each); a SIGTERM meanwhile stops the start.
      await unlessStopped(bot.start(), opts.signal);
    } catch (err) {
      // Nothing can run without Discord once a token was given: give everything back and say why.
      stopping = true;
      await bot.stop().catch(() => undefined);
      await fetcher?.close();
      await library.close();
      await store.close();
      if (err instanceof StoppedDuringStart) logger.info('stopped while connecting to Discord');
      throw err;
    }
  } else {
    logger.warn('DISCORD_TOKEN is not set: running ingest and matching only, logging what would be posted');
  }

  const health = await startHealthServer({
    host: config.service.host,
    port: config.service.port,
    metrics,
    health: async () => {
      const storeOk = await answersWithin(() => store.ping(), HEALTH_PING_TIMEOUT_MS);
      return {
        store: storeOk ? 'ok' : 'unreachable',
        gateway: bot ? (bot.connected() ? 'connected' : 'disconnected') : 'not-configured',
        lastCycleAt: last ? new Date(last.finishedAt) : undefined,
      };
    },
    maxCycleAgeSeconds: config.service.maxCycleAgeMinutes * 60,
  });
  logger.info({ address: health.url }, 'health and metrics listening');

  const targets = await store.targets.list();
  scheduler = createScheduler({
    ingestCron: config.schedule.ingestCron,
    timezone: config.schedule.timezone,
    runIngestCycle: async () => {
      await cycle();
    },
    deliverDaily,
    targets: targets.map(scheduleEntry),
    coordinator: { acquire: (key, owner, ttl) => store.coordination.acquire(key, owner, ttl) },
    owner: instanceId,
    logger,
    onOverlap: () => metrics.cycleSkipped('overlap'),
  });
  scheduler.start();

  // Digests whose time passed while we were down go out once, now.
  for (const key of scheduler.missedDigests(targets.map(scheduleEntry), now())) {
    logger.info({ target: key }, 'sending a daily digest missed while down');
    await deliverDaily(key);
  }
  if (config.schedule.runAtStart) void cycle();

  return {
    store,
    library,
    bot,
    health,
    metrics,
    instanceId,
    cycle,
    lastCycle: () => last,
    async stop(reason) {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, 'stopping');
      // No further source is read, and a feed still downloading is given up on.
      stopIngest.abort();
      const fetcherClosed = fetcher?.close();
      // The running cycle and its deliveries get STOP_WAIT_MS; then the posts still in flight
      // are handed back (their batches stay open and go out first at the next start).
      const work = Promise.all([scheduler?.stop(STOP_WAIT_MS), running]);
      if (!(await settlesWithin(work, STOP_WAIT_MS))) {
        logger.warn('stopping: posts still in flight are handed back to the next start');
        handBack.abort();
        if (!(await settlesWithin(work, HAND_BACK_WAIT_MS)))
          logger.warn('stopping: the cycle did not hand back in time; closing around it');
      }
      await bot?.stop();
      await health.close();
      await fetcherClosed;
      await library.close();
      await store.close();
      logger.info('stopped');
    },
  };
}

/**
 * How long a stop waits for the running cycle and its posts, then for the posts it hands back
 * to give up: with the gateway and the store closed after them, the process exits within 10 s
 * of SIGTERM (the hard stop in {@link runServiceUntilStopped}).
 */
const STOP_WAIT_MS = 6_000;
const HAND_BACK_WAIT_MS = 1_000;

/** How long a stopped service's process may take to end by itself before it is made to. */
const EXIT_GRACE_MS = 500;

/** Whether `p` settles within `ms` (its rejection counts as settling); the timer does not outlive it. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long `/digest now` waits for another instance that holds the channel's claim. */
const CLAIM_WAIT_MS = 20_000;

function scheduleEntry(s: TargetSettings) {
  return {
    targetKey: targetKey(s.target),
    mode: s.mode,
    time: s.time,
    timezone: s.timezone,
    lastDigestAt: s.lastDigestAt,
  };
}

function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/** Runs the service until SIGTERM/SIGINT; exits within 10 s of the signal. */
export async function runServiceUntilStopped(config: Config, version: string): Promise<number> {
  let fatal: string | undefined;
  const done = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let onFatal: (reason: string) => void = () => undefined;
  const fatalSignal = new Promise<string>((resolve) => {
    onFatal = (reason) => {
      fatal = reason;
      resolve('fatal');
    };
  });
  // Armed at the signal, start-up included, and left armed after the stop (unref'd: it keeps
  // nothing alive): should anything still hold the event loop once everything is closed, the
  // process exits all the same.
  let armed = false;
  const armHardStop = () => {
    if (armed) return;
    armed = true;
    setTimeout(() => process.exit(fatal ? 1 : 0), 10_000).unref();
  };
  const starting = new AbortController();
  void done.then(() => {
    armHardStop();
    starting.abort();
  });
  // Once everything is closed, what a library left open must not hold the process (discord.js
  // cannot abort the REST call of a login in progress, which waits out its 15 s timeout).
  const exitSoon = (code: number) => {
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    return code;
  };
  let service: Service;
  try {
    service = await startService({ config, version, onFatal, signal: starting.signal });
  } catch (err) {
    if (err instanceof StoppedDuringStart) return exitSoon(0);
    throw err;
  }
  const reason = await Promise.race([done, fatalSignal]);
  armHardStop();
  await service.stop(reason);
  return exitSoon(fatal ? 1 : 0);
}
