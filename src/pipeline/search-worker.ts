/**
 * The search index on its own thread (see {@link PaperLibrary}): indexing a cycle's papers costs
 * about as much CPU as matching them, and here it runs beside the cycle instead of in it.
 * Messages are handled in order, so a search sent after an `add` sees those papers.
 */
import { parentPort } from 'node:worker_threads';
import { createSearchIndex, type Query } from '../core/query/index.js';
import { reviveQuery } from '../core/query/parse.js';
import type { IndexedPaper, IndexMessage, IndexReply } from './library.js';

const port = parentPort;
if (!port) throw new Error('search-worker.ts runs as a worker thread');

const index = createSearchIndex();
const firstSeen = new Map<string, string>();

const add = (papers: readonly IndexedPaper[]) => {
  for (const p of papers) {
    index.add(p);
    firstSeen.set(p.id, p.firstSeen);
  }
};

port.on('message', (m: IndexMessage) => {
  if (m.t === 'add') {
    add(m.papers);
    return;
  }
  let reply: IndexReply;
  try {
    if (m.t === 'sync') reply = { id: m.id, total: index.size, hits: [] };
    else {
      const all = index.search(reviveQuery(m.query as Query), { limit: Number.MAX_SAFE_INTEGER });
      const since = m.since;
      const hits = since === undefined ? all : all.filter((h) => (firstSeen.get(h.paperId) ?? '') >= since);
      reply = { id: m.id, total: hits.length, hits: hits.slice(m.offset, m.offset + m.limit) };
    }
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
