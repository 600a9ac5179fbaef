/**
 * The machine probe (`probe.ts`) in a process of its own, as the bench runs its measurements:
 * nothing of the bench's own heap or clients is around it. Prints `{ "ms": …, "pairMs": … }`:
 * a pass on one thread, and the slower of two passes run at once on this thread and a worker.
 * Run as a worker (`workerData` "pass"), it times passes when told and posts each time back. It
 * runs compiled, as every bench script does (`bench/run.ts`): a worker started from the sources
 * would not load them through tsx.
 */
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { median, probeMachine, timedPass } from './probe.js';

const RUNS = 5;

if (!isMainThread && workerData === 'pass') {
  const port = parentPort;
  if (!port) throw new Error('probe-worker.ts runs its passes as a worker thread');
  port.on('message', (m: 'go' | 'stop') => {
    if (m === 'go') port.postMessage(timedPass());
    else port.close();
  });
} else {
  const ms = probeMachine(RUNS);
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: 'pass' });
  const next = (): Promise<number> =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  // A first pass on the worker compiles its code; it is not timed against this thread's.
  worker.postMessage('go');
  await next();
  const pairs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const there = next();
    worker.postMessage('go');
    const here = timedPass();
    pairs.push(Math.max(here, await there));
  }
  worker.postMessage('stop');
  console.log(JSON.stringify({ ms, pairMs: median(pairs) }));
}
