/**
 * A service's start on a store that already holds papers, in a process of its own:
 *   node bench/startup-worker.js <storeUrl>
 * Opens the store and fills the search index from it on its own thread, as `paperboy run` does
 * (`src/service.ts`), then collects the main thread's garbage. Prints one JSON line: how long the
 * index took to fill, the process's peak RSS meanwhile, and its RSS once filled — what a
 * long-running service holds for its papers between cycles.
 */
import { limitHeapGrowth } from '../src/heap.js';
import { PaperLibrary } from '../src/pipeline/library.js';
import { openStore } from '../src/store/keyv-store.js';

limitHeapGrowth();
const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: startup-worker.ts <storeUrl>');
const store = await openStore(url);
const t0 = performance.now();
const library = await PaperLibrary.load(store, { searchThread: 'worker' });
const papers = await library.count();
const loadMs = performance.now() - t0;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
// The main thread's garbage collected; the search thread's is what the next cycle starts with.
for (let i = 0; i < 2; i++) {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 500));
}
const rssMb = process.memoryUsage().rss / 1048576;
await library.close();
await store.close();
process.stdout.write(`${JSON.stringify({ url, papers, loadMs, peakRssMb, rssMb })}\n`);
