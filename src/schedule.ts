/**
 * The scheduler, on node-cron v4: the ingest cycle on a cron expression, and one daily task per
 * target at its local time in its IANA timezone. node-cron's `noOverlap` skips a tick that fires
 * while the previous run is still going (counted), and its run coordinator lets several
 * instances share a store so that exactly one of them runs each tick.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { previousDailyRun } from './core/calendar.js';

export interface ScheduleEntry {
  targetKey: string;
  mode: 'immediate' | 'daily';
  /** HH:MM, local to `timezone`. */
  time: string;
  timezone: string;
  lastDigestAt?: string | undefined;
}

export interface SchedulerDeps {
  ingestCron: string;
  timezone: string;
  runIngestCycle: () => Promise<void>;
  deliverDaily: (targetKey: string) => Promise<void>;
  targets: ScheduleEntry[];
  /** Shared leases: only the instance that takes a tick's lease runs it. */
  coordinator?: { acquire(key: string, owner: string, ttlMs: number): Promise<boolean> };
  owner: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  onOverlap?: () => void;
}

export interface Scheduler {
  start(): void;
  /** Stops every task and waits (at most `timeoutMs`) for running callbacks. */
  stop(timeoutMs: number): Promise<void>;
  upsertTarget(e: ScheduleEntry): void;
  removeTarget(targetKey: string): void;
  /** Targets whose last daily digest is older than their most recent scheduled time. */
  missedDigests(entries: readonly ScheduleEntry[], now?: Date): string[];
  nextRuns(): { ingest: Date | undefined; digests: Map<string, Date> };
  readonly skippedOverlaps: number;
  /** The node-cron task of the ingest cycle (tests drive it with `execute()`). */
  readonly ingestTask: ScheduledTask;
  dailyTask(targetKey: string): ScheduledTask | undefined;
}

/** The cron expression of a daily HH:MM. */
export function dailyCron(time: string): string {
  const [hh, mm] = time.split(':').map(Number);
  return `${mm} ${hh} * * *`;
}

/** Daily targets whose most recent scheduled digest time passed after their last digest. */
export function missedDigests(entries: readonly ScheduleEntry[], now: Date): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.mode !== 'daily' || e.lastDigestAt === undefined) continue;
    const due = previousDailyRun(e.time, e.timezone, now);
    if (Date.parse(e.lastDigestAt) < due.getTime()) out.push(e.targetKey);
  }
  return out;
}

export function createScheduler(deps: SchedulerDeps): Scheduler {
  let skipped = 0;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };
  const coordinator = deps.coordinator
    ? {
        shouldRun: (key: string, ttlMs: number) =>
          deps.coordinator?.acquire(`tick:${key}`, deps.owner, ttlMs) ?? true,
      }
    : undefined;
  const options = (name: string, timezone: string) => ({
    name,
    timezone,
    noOverlap: true,
    ...(coordinator ? { distributed: true, runCoordinator: coordinator, distributedLease: 10 * 60_000 } : {}),
  });
  const ingestTask = cron.createTask(
    deps.ingestCron,
    () =>
      track(deps.runIngestCycle().catch((err: unknown) => deps.logger.error({ err }, 'ingest cycle failed'))),
    options('ingest', deps.timezone),
  );
  ingestTask.on('execution:overlap', () => {
    skipped++;
    deps.onOverlap?.();
    deps.logger.warn('an ingest cycle is still running: this tick is skipped');
  });
  const daily = new Map<string, ScheduledTask>();
  let started = false;
  const upsert = (e: ScheduleEntry) => {
    daily.get(e.targetKey)?.destroy();
    daily.delete(e.targetKey);
    if (e.mode !== 'daily') return;
    const task = cron.createTask(
      dailyCron(e.time),
      () =>
        track(
          deps
            .deliverDaily(e.targetKey)
            .catch((err: unknown) => deps.logger.error({ err, target: e.targetKey }, 'daily digest failed')),
        ),
      options(`digest:${e.targetKey}`, e.timezone),
    );
    daily.set(e.targetKey, task);
    if (started) void task.start();
  };
  for (const e of deps.targets) upsert(e);
  return {
    start() {
      started = true;
      void ingestTask.start();
      for (const t of daily.values()) void t.start();
    },
    async stop(timeoutMs) {
      started = false;
      await ingestTask.stop();
      for (const t of daily.values()) await t.stop();
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((r) => setTimeout(r, timeoutMs).unref()),
      ]);
      await ingestTask.destroy();
      for (const t of daily.values()) await t.destroy();
    },
    upsertTarget: upsert,
    removeTarget(key) {
      daily.get(key)?.destroy();
      daily.delete(key);
    },
    missedDigests: (entries, now = new Date()) => missedDigests(entries, now),
    nextRuns() {
      const digests = new Map<string, Date>();
      for (const [k, t] of daily) {
        const next = t.getNextRun();
        if (next) digests.set(k, next);
      }
      return { ingest: ingestTask.getNextRun() ?? undefined, digests };
    },
    get skippedOverlaps() {
      return skipped;
    },
    ingestTask,
    dailyTask: (key) => daily.get(key),
  };
}
