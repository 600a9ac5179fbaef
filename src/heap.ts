/**
 * How far V8 lets the heap grow past what the last full collection kept.
 *
 * A cycle allocates quickly and keeps little: a step's feed text, papers and outbox records
 * live for a quarter of a second, long enough to be promoted, and then die. V8's default
 * growth factor (up to 4×) lets the old generation grow to about five times what is live before
 * it collects, so a process holding ~60 MB peaked at ~300 MB of heap. At 1.6× the peak was
 * ~180 MB and the cycle as fast (`npm run bench -- --only cycle`); 1.45× saves another ~10 MB
 * of the cycle's peak RSS (370–380 MB against 382–390, three runs each) within the noise of its
 * speed.
 */
import { setFlagsFromString } from 'node:v8';

/** Growth after a full collection, in percent of what it kept: V8's `--heap-growing-percent`. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 45;

/**
 * Applies the growth limit to this process (every thread), unless `node` was started with its
 * own `--heap-growing-percent`. `PAPERBOY_HEAP_GROWTH_PERCENT` overrides the default; 0 leaves
 * V8's own heuristics. V8 reads the flag at each full collection, so setting it at start-up,
 * before the first one, takes effect. Returns the percent in force, or undefined for V8's.
 */
export function limitHeapGrowth(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
  setFlags: (flags: string) => void = setFlagsFromString,
): number | undefined {
  const given = execArgv.find((a) => /^--heap[-_]growing[-_]percent=/.test(a));
  if (given) return Number(given.split('=')[1]) || undefined;
  const raw = env.PAPERBOY_HEAP_GROWTH_PERCENT?.trim();
  const percent = raw ? Number(raw) : DEFAULT_HEAP_GROWTH_PERCENT;
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000)
    throw new Error(`PAPERBOY_HEAP_GROWTH_PERCENT must be a whole number from 0 to 1000, not "${raw}"`);
  if (percent === 0) return undefined;
  setFlags(`--heap-growing-percent=${percent}`);
  return percent;
}
