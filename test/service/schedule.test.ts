import { afterEach, describe, expect, it, vi } from 'vitest';
import { previousDailyRun, zonedTime } from '../../src/core/calendar.js';
import { createScheduler, missedDigests, type ScheduleEntry } from '../../src/schedule.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

afterEach(() => {
  vi.useRealTimers();
});

/** Runs a scheduler on a fake clock from `from` for `hours`, returning when each digest fired. */
async function firesOver(entry: ScheduleEntry, from: string, hours: number): Promise<string[]> {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  vi.setSystemTime(new Date(from));
  const fired: string[] = [];
  const scheduler = createScheduler({
    ingestCron: '0 0 1 1 *',
    timezone: 'UTC',
    runIngestCycle: async () => undefined,
    deliverDaily: async () => {
      fired.push(new Date().toISOString().slice(0, 16));
    },
    targets: [entry],
    owner: 'test',
    logger: quiet,
  });
  scheduler.start();
  for (let h = 0; h < hours * 4; h++) await vi.advanceTimersByTimeAsync(15 * 60_000);
  await scheduler.stop(100);
  return fired;
}

describe('daily digests across DST changes', () => {
  it.each([
    // Berlin: CET (UTC+1) → CEST (UTC+2) on 2026-03-29, back on 2026-10-25.
    ['Europe/Berlin', '2026-03-28T12:00:00Z', ['2026-03-29T07:00', '2026-03-30T07:00']],
    ['Europe/Berlin', '2026-10-24T12:00:00Z', ['2026-10-25T08:00', '2026-10-26T08:00']],
    // New York: EST (UTC-5) → EDT (UTC-4) on 2026-03-08, back on 2026-11-01.
    ['America/New_York', '2026-03-07T16:00:00Z', ['2026-03-08T13:00', '2026-03-09T13:00']],
    ['America/New_York', '2026-10-31T16:00:00Z', ['2026-11-01T14:00', '2026-11-02T14:00']],
  ])('fires 09:00 local in %s from %s at the right instants', async (timezone, from, expected) => {
    const fired = await firesOver(
      { targetKey: 'channel:1', mode: 'daily', time: '09:00', timezone },
      from,
      48,
    );
    expect(fired).toEqual(expected);
  });

  it('maps a time in the spring-forward gap one hour later, and a repeated time to its first occurrence', () => {
    expect(zonedTime('Europe/Berlin', { y: 2026, m: 3, d: 29 }, 2, 30).toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
    expect(zonedTime('Europe/Berlin', { y: 2026, m: 10, d: 25 }, 2, 30).toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    expect(zonedTime('America/New_York', { y: 2026, m: 11, d: 1 }, 9, 0).toISOString()).toBe(
      '2026-11-01T14:00:00.000Z',
    );
  });
});

describe('missed digests', () => {
  const entry = (lastDigestAt: string): ScheduleEntry => ({
    targetKey: 'channel:1',
    mode: 'daily',
    time: '09:00',
    timezone: 'Europe/Berlin',
    lastDigestAt,
  });

  it('reports a digest whose time passed while the service was down, once', () => {
    const now = new Date('2026-11-22T10:00:00Z'); // 11:00 in Berlin
    expect(previousDailyRun('09:00', 'Europe/Berlin', now).toISOString()).toBe('2026-11-22T08:00:00.000Z');
    expect(missedDigests([entry('2026-11-21T08:00:05Z')], now)).toEqual(['channel:1']);
    // After it is sent, lastDigestAt moves past the scheduled time: not missed any more.
    expect(missedDigests([entry('2026-11-22T10:00:01Z')], now)).toEqual([]);
    // Before today's 09:00, yesterday's digest is the one due.
    expect(missedDigests([entry('2026-11-21T08:00:05Z')], new Date('2026-11-22T07:00:00Z'))).toEqual([]);
    expect(missedDigests([{ ...entry('2026-11-20T08:00:00Z'), mode: 'immediate' }], now)).toEqual([]);
  });
});

describe('ingest ticks', () => {
  it('skips and counts a tick that fires while the previous cycle still runs', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    vi.setSystemTime(new Date('2026-11-22T10:00:30Z'));
    let running = 0;
    let started = 0;
    let release: () => void = () => undefined;
    const scheduler = createScheduler({
      ingestCron: '* * * * *',
      timezone: 'UTC',
      runIngestCycle: () => {
        started++;
        running++;
        return new Promise<void>((r) => {
          release = () => {
            running--;
            r();
          };
        });
      },
      deliverDaily: async () => undefined,
      targets: [],
      owner: 'test',
      logger: quiet,
    });
    scheduler.start();
    for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toBe(1);
    expect(running).toBe(1);
    expect(scheduler.skippedOverlaps).toBe(3);
    release();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toBe(2);
    release();
    await scheduler.stop(100);
  });

  it('lets only the instance that takes the lease run a tick', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    vi.setSystemTime(new Date('2026-11-22T10:00:30Z'));
    const leases = new Map<string, string>();
    const coordinator = {
      acquire: async (key: string, owner: string) => {
        const holder = leases.get(key);
        if (holder && holder !== owner) return false;
        leases.set(key, owner);
        return true;
      },
    };
    const runs: string[] = [];
    const make = (owner: string) =>
      createScheduler({
        ingestCron: '* * * * *',
        timezone: 'UTC',
        runIngestCycle: async () => {
          runs.push(owner);
        },
        deliverDaily: async () => undefined,
        targets: [],
        coordinator,
        owner,
        logger: quiet,
      });
    const a = make('a');
    const b = make('b');
    a.start();
    b.start();
    for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(60_000);
    await Promise.all([a.stop(100), b.stop(100)]);
    expect(runs).toHaveLength(3);
    expect(leases.size).toBe(3);
  });
});

describe('stale sources', () => {
  it('reports a feed with nothing new for longer than it normally goes quiet, not a failing or fresh one', async () => {
    const { staleSources } = await import('../../src/pipeline/cycle.js');
    const now = new Date('2026-11-22T12:00:00Z');
    const states = new Map([
      ['quiet', { consecutiveFailures: 0, newestEntryAt: '2026-11-17T12:00:00Z' }],
      ['weekend', { consecutiveFailures: 0, newestEntryAt: '2026-11-20T20:00:00Z' }],
      [
        'broken',
        {
          consecutiveFailures: 5,
          failingSince: '2026-11-10T00:00:00Z',
          newestEntryAt: '2026-11-01T00:00:00Z',
        },
      ],
      ['new-source', { consecutiveFailures: 0 }],
    ]);
    expect(staleSources(states, ['quiet', 'weekend', 'broken', 'new-source', 'unknown'], now, 96)).toEqual([
      'quiet',
    ]);
    expect(staleSources(states, ['quiet', 'weekend'], now, 24)).toEqual(['quiet', 'weekend']);
  });
});
