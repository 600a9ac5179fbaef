/**
 * Waiting on a promise until a signal says to stop waiting. Pure: the promise goes on, only the
 * wait ends (the caller decides what becomes of it).
 */
import { setTimeout as delay } from 'node:timers/promises';

/** What {@link untilAborted} resolves with when the signal came first. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * `p`'s value, or {@link ABORTED} as soon as `signal` aborts (at once if it already has); a
 * rejection of `p` before that rejects. The listener does not outlive the wait.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const abort = () => resolve(ABORTED);
    signal.addEventListener('abort', abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * Waits `ms`, or less once `signal` (if any) aborts: then it resolves, and the caller looks at
 * the signal. Node's own timer is cleared on abort, so a cut wait holds no process alive; an
 * injected `sleep` (a test's clock) is only stopped waiting on.
 */
export async function sleepUnlessAborted(
  ms: number,
  signal: AbortSignal | undefined,
  sleep?: (ms: number) => Promise<void>,
): Promise<void> {
  if (sleep) {
    await (signal ? untilAborted(sleep(ms), signal) : sleep(ms));
    return;
  }
  await delay(ms, undefined, { signal }).catch((err: unknown) => {
    if (!signal?.aborted) throw err;
  });
}
