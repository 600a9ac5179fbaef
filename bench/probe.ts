/**
 * A fixed piece of work timed before and after each section, so figures from a shared machine
 * can be read against how fast the machine was at the time: on the 2-core VM these figures come
 * from, the same cycle ran anywhere from 6.5k to 13.6k papers/s in one session. Its time is not
 * a correction factor (the sections' work is not this work), only a sign of how loaded the
 * machine was.
 *
 * The work is what most of paperboy's is: walking strings, hashing their words, and small
 * short-lived objects. A pass takes ~60 ms on that VM when it is quiet.
 *
 * The cycle keeps two threads busy, so the probe also times the pass on two threads at once
 * (`probe-worker.ts`): on a shared VM the second core can be the slower one. Neither figure
 * catches every kind of load: in stop 16 the pass took 64–76 ms and the pair 68–77 ms, close
 * to quiet, while the cycle used 40–60% more CPU than in quiet minutes.
 */
import { prng } from './corpus.js';

const TEXTS = (() => {
  const rnd = prng(1234);
  const word = () => {
    let w = '';
    const len = 2 + Math.floor(rnd() * 9);
    for (let i = 0; i < len; i++) w += String.fromCharCode(97 + Math.floor(rnd() * 26));
    return w;
  };
  return Array.from({ length: 4000 }, () => Array.from({ length: 150 }, word).join(' '));
})();

/** One pass of the probe's work; returns a checksum, so nothing is optimised away. */
function work(): number {
  let sum = 0;
  const counts = new Map<number, number>();
  for (const text of TEXTS) {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 32) {
        counts.set(h & 0xffff, (counts.get(h & 0xffff) ?? 0) + 1);
        h = 0x811c9dc5;
      } else h = Math.imul(h ^ c, 0x01000193);
    }
    const words = text.split(' ');
    sum += words.length + (counts.size & 1);
  }
  return sum;
}

/** One pass of the probe's work, timed in milliseconds. */
export function timedPass(): number {
  const start = performance.now();
  if (work() < 0) throw new Error('unreachable');
  return performance.now() - start;
}

/** Milliseconds a pass of the probe's work took: the median of `runs` passes. */
export function probeMachine(runs = 5): number {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(timedPass());
  return median(times);
}

export function median(times: number[]): number {
  return [...times].sort((a, b) => a - b)[times.length >> 1] as number;
}
