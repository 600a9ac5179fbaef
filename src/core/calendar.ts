/**
 * Local-time arithmetic in IANA timezones, with Intl only: the UTC instant of a wall-clock time
 * on a local date, and the most recent occurrence of a daily HH:MM.
 */

/** Minutes east of UTC of `tz` at `instant`. */
export function offsetMinutes(tz: string, instant: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(instant);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

/** The local calendar date (y, m 1-12, d) of `instant` in `tz`. */
export function localDate(tz: string, instant: Date): { y: number; m: number; d: number } {
  const local = new Date(instant.getTime() + offsetMinutes(tz, instant) * 60_000);
  return { y: local.getUTCFullYear(), m: local.getUTCMonth() + 1, d: local.getUTCDate() };
}

/**
 * The instant a wall clock in `tz` shows `hh:mm` on the local date. A time that does not exist
 * (the skipped hour of a spring-forward day) is taken one offset later, e.g. 02:30 → 03:30; a
 * time that exists twice (autumn) is its first occurrence.
 */
export function zonedTime(
  tz: string,
  date: { y: number; m: number; d: number },
  hh: number,
  mm: number,
): Date {
  const wall = Date.UTC(date.y, date.m - 1, date.d, hh, mm);
  // Try the offsets in force around that wall time; the earliest instant that shows it wins.
  const candidates = [
    offsetMinutes(tz, new Date(wall - 86_400_000)),
    offsetMinutes(tz, new Date(wall + 86_400_000)),
  ];
  const exact = candidates
    .map((off) => new Date(wall - off * 60_000))
    .filter((d) => {
      const back = new Date(d.getTime() + offsetMinutes(tz, d) * 60_000);
      return back.getUTCHours() === hh && back.getUTCMinutes() === mm;
    })
    .sort((a, b) => a.getTime() - b.getTime());
  if (exact[0]) return exact[0];
  // In the gap: the clock jumps over hh:mm; use the pre-transition offset (02:30 → 03:30).
  return new Date(wall - Math.min(...candidates) * 60_000);
}

/** The most recent instant at or before `now` when `tz`'s clock showed the daily `HH:MM`. */
export function previousDailyRun(time: string, tz: string, now: Date): Date {
  const [hh, mm] = time.split(':').map(Number) as [number, number];
  const today = localDate(tz, now);
  const at = zonedTime(tz, today, hh, mm);
  if (at.getTime() <= now.getTime()) return at;
  const yesterday = new Date(Date.UTC(today.y, today.m - 1, today.d) - 86_400_000);
  return zonedTime(
    tz,
    { y: yesterday.getUTCFullYear(), m: yesterday.getUTCMonth() + 1, d: yesterday.getUTCDate() },
    hh,
    mm,
  );
}
