/**
 * The search index on its own thread (see {@link PaperLibrary}): indexing a cycle's papers costs
 * about as much CPU as matching them, and here it runs beside the cycle instead of in it.
 * Messages are handled in order, so a search sent after an `add` sees those papers.
 */
import { parentPort } from 'node:worker_threads';
import type { Query } from '../core/query/index.js';
import { reviveQuery } from '../core/query/parse.js';
import type { IndexMessage, IndexReply } from './library.js';
import { PagedIndex } from './paged-index.js';

const port = parentPort;
if (!port) throw new Error('search-worker.ts runs as a worker thread');

const index = new PagedIndex();

port.on('message', (m: IndexMessage) => {
  if (m.t === 'add') {
    index.add(m.papers);
    return;
  }
  let reply: IndexReply;
  try {
    reply =
      m.t === 'sync'
        ? { id: m.id, total: index.size, hits: [] }
        : { id: m.id, ...index.search(reviveQuery(m.query as Query), m) };
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
