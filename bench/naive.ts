/**
 * Naive baselines shared by the benchmark workers: the pipeline done one item and one awaited
 * store call at a time, with the same parsing and the same interpreter.
 */
import { chooseTarget, createPaper, mergeSighting, newAliases } from '../src/core/merge.js';
import { identityKeys, type Paper, type PaperSighting } from '../src/core/paper.js';
import { analyzePaper, matchesQuery, type Query } from '../src/core/query/index.js';
import { type Delivery, deliveryId, type Subscription, targetKey } from '../src/core/subscription.js';
import type { Store } from '../src/store/types.js';

/** The naive baseline: every sighting resolved, read and written on its own, one await each. */
export async function mergeNaive(
  store: Store,
  sightings: readonly PaperSighting[],
  now: string,
  created: Paper[] = [],
) {
  const counts = { new: 0, updated: 0, duplicates: 0 };
  for (const s of sightings) {
    const resolved = new Map<string, string>();
    for (const key of identityKeys(s)) {
      const id = (await store.papers.resolve([key])).get(key);
      if (id !== undefined) resolved.set(key, id);
    }
    const papers = new Map();
    for (const id of new Set(resolved.values())) {
      const p = (await store.papers.getMany([id])).get(id);
      if (p) papers.set(id, p);
    }
    const target = chooseTarget(s, resolved, papers);
    const existing = target === undefined ? undefined : papers.get(target);
    let paper = existing;
    if (existing === undefined) {
      paper = createPaper(s, 'bench', now);
      counts.new++;
      created.push(paper);
    } else {
      const m = mergeSighting(existing, s, 'bench', now);
      paper = m.paper;
      counts[m.outcome === 'updated' ? 'updated' : 'duplicates']++;
    }
    await store.papers.putMany([paper], new Map(newAliases(paper, s, resolved)));
  }
  return counts;
}

/**
 * The naive match-and-plan: every subscription's query on every new paper through the
 * interpreter, and each delivery enqueued on its own (the outbox checks it was never planned).
 */
export async function matchNaive(
  store: Store,
  papers: readonly Paper[],
  subs: ReadonlyArray<{ sub: Subscription; query: Query }>,
  now: string,
): Promise<{ matched: number; enqueued: number }> {
  let matched = 0;
  let enqueued = 0;
  for (const paper of papers) {
    const doc = analyzePaper(paper);
    const byTarget = new Map<string, Delivery>();
    for (const { sub, query } of subs) {
      if (!matchesQuery(query, doc)) continue;
      const key = targetKey(sub.target);
      const d = byTarget.get(key);
      if (d) d.subscriptionIds.push(sub.id);
      else
        byTarget.set(key, {
          id: deliveryId(sub.target, paper.id),
          target: sub.target,
          paperId: paper.id,
          subscriptionIds: [sub.id],
          score: 1,
          terms: [],
          kind: 'new',
          createdAt: now,
          state: 'pending',
          attempts: 0,
        });
    }
    for (const d of byTarget.values()) {
      matched++;
      enqueued += (await store.outbox.enqueue([d])).length;
    }
  }
  return { matched, enqueued };
}
