/**
 * The library: every stored paper in a search index, and the subscriptions compiled into a
 * matcher. Loaded once from the store, then kept current by each cycle, so searches, previews,
 * `/paper why` and matching never scan the store.
 */

import { hash64, type Paper, type PaperId } from '../core/paper.js';
import {
  analyzePaper,
  compileMatcher,
  createSearchIndex,
  type Explanation,
  explainMatch,
  type Matcher,
  type MatchHit,
  parseQuery,
  type Query,
  type SearchIndex,
} from '../core/query/index.js';
import { type Delivery, deliveryId, type Subscription, targetKey } from '../core/subscription.js';
import type { Store } from '../store/types.js';

/** A query that did not parse: the person's text, what is wrong and where. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  constructor(
    readonly query: string,
    readonly problem: string,
    readonly column: number,
  ) {
    super(problem);
  }
}

/** Parses a query or throws {@link QueryError}. */
export function compileQuery(text: string): Query {
  const parsed = parseQuery(text);
  if (!parsed.ok) throw new QueryError(text, parsed.error.message, parsed.error.column);
  return parsed.query;
}

export interface SearchResult {
  total: number;
  hits: Array<{ paperId: PaperId; score: number; terms: string[] }>;
}

/** Light facts about every paper, kept in memory for filters that need no full record. */
interface PaperFacts {
  firstSeen: string;
}

export class PaperLibrary {
  private readonly index: SearchIndex = createSearchIndex();
  private readonly facts = new Map<PaperId, PaperFacts>();
  private matcher: { key: string; matcher: Matcher; subs: Map<string, Subscription> } | undefined;

  private constructor(private readonly store: Store) {}

  /** Reads every stored paper into the index. */
  static async load(store: Store): Promise<PaperLibrary> {
    const lib = new PaperLibrary(store);
    let batch: Paper[] = [];
    for await (const paper of store.papers.iterate()) {
      batch.push(paper);
      if (batch.length >= 2000) {
        lib.add(batch);
        batch = [];
      }
    }
    lib.add(batch);
    return lib;
  }

  get size(): number {
    return this.facts.size;
  }

  /** Adds new papers and re-indexes changed ones. */
  add(papers: readonly Paper[]): void {
    for (const p of papers) {
      if (this.facts.has(p.id)) this.index.remove?.(p.id);
      this.index.add(p);
      this.facts.set(p.id, { firstSeen: p.firstSeen });
    }
  }

  /** Ranked papers matching `query`, optionally only those first seen at or after `since`. */
  search(query: Query, opts: { limit: number; offset?: number; since?: Date }): SearchResult {
    const sinceIso = opts.since?.toISOString();
    const all = this.index.search(query, { limit: Number.MAX_SAFE_INTEGER });
    const hits =
      sinceIso === undefined
        ? all
        : all.filter((h) => (this.facts.get(h.paperId)?.firstSeen ?? '') >= sinceIso);
    const offset = opts.offset ?? 0;
    return { total: hits.length, hits: hits.slice(offset, offset + opts.limit) };
  }

  /** Full records for ids, in the given order. */
  async papers(ids: readonly PaperId[]): Promise<Paper[]> {
    const got = await this.store.papers.getMany(ids);
    return ids.map((id) => got.get(id)).filter((p): p is Paper => p !== undefined);
  }

  /** Why `paper` does or does not match each subscription. */
  explain(
    paper: Paper,
    subs: readonly Subscription[],
  ): Array<{ sub: Subscription; explanation: Explanation }> {
    const doc = analyzePaper(paper);
    return subs.map((sub) => ({ sub, explanation: explainMatch(compileQuery(sub.query), doc) }));
  }

  /**
   * The compiled matcher for `subs`, rebuilt only when the set of subscriptions changed
   * (`cache: false` compiles a one-off matcher and leaves the cached one alone).
   */
  matcherFor(
    subs: readonly Subscription[],
    opts: { cache?: boolean } = {},
  ): { matcher: Matcher; subs: Map<string, Subscription> } {
    if (opts.cache === false) return compileSubs(subs);
    const key = hash64(
      subs
        .map((s) => `${s.id}\u0000${s.query}`)
        .sort()
        .join('\n'),
    );
    if (this.matcher?.key !== key) this.matcher = { key, ...compileSubs(subs) };
    return { matcher: this.matcher.matcher, subs: this.matcher.subs };
  }
}

function compileSubs(subs: readonly Subscription[]): { matcher: Matcher; subs: Map<string, Subscription> } {
  const valid: Array<{ id: string; query: Query }> = [];
  for (const s of subs) {
    const parsed = parseQuery(s.query);
    // A stored query that no longer parses (the language changed) matches nothing rather than
    // stopping every other subscription; `subs list` shows it.
    if (parsed.ok) valid.push({ id: s.id, query: parsed.query });
  }
  return { matcher: compileMatcher(valid), subs: new Map(subs.map((s) => [s.id, s])) };
}

/**
 * Turns matches of new (or updated) papers into outbox deliveries: one per paper and target,
 * naming every subscription of that target that matched. Updates only reach subscriptions that
 * asked for them.
 */
export function planDeliveries(
  papers: ReadonlyArray<{ paper: Paper; kind: 'new' | 'update' }>,
  matcher: Matcher,
  subs: ReadonlyMap<string, Subscription>,
  now: Date,
): Delivery[] {
  const out: Delivery[] = [];
  const createdAt = now.toISOString();
  for (const { paper, kind } of papers) {
    const hits = matcher.match(analyzePaper(paper));
    if (hits.length === 0) continue;
    const byTarget = new Map<string, { sub: Subscription; hits: MatchHit[] }>();
    for (const hit of hits) {
      const sub = subs.get(hit.subscriptionId);
      if (!sub) continue;
      if (kind === 'update' && !sub.notifyUpdates) continue;
      const key = targetKey(sub.target);
      const entry = byTarget.get(key);
      if (entry) entry.hits.push(hit);
      else byTarget.set(key, { sub, hits: [hit] });
    }
    for (const { sub, hits: targetHits } of byTarget.values()) {
      targetHits.sort((a, b) => b.score - a.score);
      const terms = [...new Set(targetHits.flatMap((h) => h.terms))];
      out.push({
        id: deliveryId(sub.target, paper.id, kind === 'update' ? (paper.updatedAt ?? createdAt) : undefined),
        target: sub.target,
        paperId: paper.id,
        subscriptionIds: targetHits.map((h) => h.subscriptionId),
        score: targetHits[0]?.score ?? 0,
        terms,
        kind,
        createdAt,
        state: 'pending',
        attempts: 0,
      });
    }
  }
  return out;
}
