/**
 * The search index on its own thread (see {@link PaperLibrary}), and the cycle's planning with it:
 * indexing and matching a cycle's papers cost more CPU than the rest of the cycle, and here they
 * run beside it instead of in it. Messages are handled in order, so a search sent after an `add`
 * or a `plan` sees those papers.
 */
import { parentPort } from 'node:worker_threads';
import type { Matcher, Query } from '../core/query/index.js';
import { reviveQuery } from '../core/query/parse.js';
import type { IndexMessage, IndexReply } from './library.js';
import { PagedIndex } from './paged-index.js';
import { compileSubs, type PlanSubscription, planWire } from './plan.js';

const port = parentPort;
if (!port) throw new Error('search-worker.ts runs as a worker thread');

const index = new PagedIndex();
/** The subscription set plans are made against (the last one sent). */
let planning: { key: string; matcher: Matcher; subs: Map<string, PlanSubscription> } | undefined;

port.on('message', (m: IndexMessage) => {
  if (m.t === 'add') {
    index.add(m.papers);
    return;
  }
  if (m.t === 'subs') {
    planning = { key: m.key, ...compileSubs(m.subs) };
    return;
  }
  if (m.t === 'plan') {
    // The plan goes back first: the cycle waits for it, not for the index.
    try {
      if (planning?.key !== m.key) throw new Error(`no subscription set ${m.key} on this thread`);
      const { wire, transfer } = planWire(
        m.papers.map((paper) => ({ paper, kind: paper.kind })),
        planning.matcher,
        planning.subs,
        new Date(m.now),
      );
      port.postMessage({ id: m.id, plan: wire } satisfies IndexReply, transfer);
    } catch (err) {
      port.postMessage({
        id: m.id,
        error: err instanceof Error ? err.message : String(err),
      } satisfies IndexReply);
    }
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
