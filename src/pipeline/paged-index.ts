/**
 * The search index with each paper's first-seen time: ranked hits, filtered to papers first seen
 * since a time, one page of them. The same on the caller's thread and on the search thread
 * (`search-worker.ts`), so both answer alike.
 */
import type { PaperId } from '../core/paper.js';
import { createSearchIndex, type MatchablePaper, type Query } from '../core/query/index.js';

/** What the index keeps of a paper. */
export interface IndexedPaper extends MatchablePaper {
  firstSeen: string;
}

export interface SearchResult {
  total: number;
  hits: Array<{ paperId: PaperId; score: number; terms: string[] }>;
}

export interface PageOptions {
  limit: number;
  offset: number;
  /** ISO-8601: only papers first seen at or after it. */
  since: string | undefined;
}

export class PagedIndex {
  private readonly index = createSearchIndex();
  private readonly firstSeen = new Map<PaperId, string>();

  get size(): number {
    return this.index.size;
  }

  /** Adds new papers and re-indexes changed ones. */
  add(papers: readonly IndexedPaper[]): void {
    for (const p of papers) {
      this.index.add(p);
      this.firstSeen.set(p.id, p.firstSeen);
    }
  }

  search(query: Query, opts: PageOptions): SearchResult {
    const all = this.index.search(query, { limit: Number.MAX_SAFE_INTEGER });
    const since = opts.since;
    const hits =
      since === undefined ? all : all.filter((h) => (this.firstSeen.get(h.paperId) ?? '') >= since);
    return { total: hits.length, hits: hits.slice(opts.offset, opts.offset + opts.limit) };
  }
}
