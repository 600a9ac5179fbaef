/**
 * The search index with each paper's first-seen time: ranked hits, filtered to papers first seen
 * since a time, one page of them. The same on the caller's thread and on the search thread
 * (`search-worker.ts`), so both answer alike.
 */
import type { PaperId } from '../core/paper.js';
import {
  createSearchIndex,
  type MatchablePaper,
  type PaperWords,
  type Query,
  type SearchIndex,
  type SearchIndexOptions,
} from '../core/query/index.js';

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

/**
 * An ISO-8601 time as `Date#toISOString` writes it, with a four-digit year: the times for which
 * comparing the strings and comparing the instants agree.
 */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** `s` as epoch ms if it is a time {@link ISO_TIME} describes and writes back the same, else NaN. */
function isoMs(s: string): number {
  if (!ISO_TIME.test(s)) return Number.NaN;
  const ms = Date.parse(s);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === s ? ms : Number.NaN;
}

export class PagedIndex {
  private readonly index: SearchIndex;

  constructor(options: SearchIndexOptions = {}) {
    this.index = createSearchIndex(options);
  }
  /**
   * Per paper number in the index: when it was first seen, in epoch ms. A `Map` of ids to ISO
   * strings held two strings and an entry a paper, ~12 MB of heap for 100k papers; this is 0.8 MB
   * outside it. NaN for a time that does not read back as the same string ({@link oddFirstSeen}).
   */
  private firstSeen = new Float64Array(1024);
  /**
   * The first-seen values kept as given, by paper number, for the odd ones (hand-edited, another
   * format): compared as strings, as every value once was. A number dropped by a re-add keeps its
   * entry, as the index keeps the paper's old text.
   */
  private readonly oddFirstSeen = new Map<number, string>();
  /** The last first-seen value read, and its ms: a cycle's papers mostly share one. */
  private lastFirstSeen: string | undefined;
  private lastFirstSeenMs = Number.NaN;

  get size(): number {
    return this.index.size;
  }

  /** Adds new papers and re-indexes changed ones. */
  add(papers: readonly IndexedPaper[]): void {
    for (const p of papers) this.addPaper(p);
  }

  /**
   * Adds one paper (or re-indexes it); with `words`, leaves there the words of its title and
   * abstract as the index read them, for matching the paper without reading its text again.
   */
  addPaper(p: IndexedPaper, words?: PaperWords): void {
    const n = this.index.add(p, words);
    if (n >= this.firstSeen.length) {
      const next = new Float64Array(Math.max(n + 1, this.firstSeen.length * 2));
      next.set(this.firstSeen);
      this.firstSeen = next;
    }
    if (p.firstSeen !== this.lastFirstSeen) {
      this.lastFirstSeen = p.firstSeen;
      this.lastFirstSeenMs = typeof p.firstSeen === 'string' ? isoMs(p.firstSeen) : Number.NaN;
    }
    const ms = this.lastFirstSeenMs;
    this.firstSeen[n] = ms;
    if (Number.isNaN(ms)) this.oddFirstSeen.set(n, p.firstSeen);
  }

  search(query: Query, opts: PageOptions): SearchResult {
    const since = opts.since;
    const all = this.index.search(query, {
      limit: Number.MAX_SAFE_INTEGER,
      ...(since === undefined ? {} : { accept: this.firstSeenSince(since) }),
    });
    return { total: all.length, hits: all.slice(opts.offset, opts.offset + opts.limit) };
  }

  /**
   * Whether a paper was first seen at or after `since`: exactly the string comparison of its
   * first-seen value with `since`, as ms when both are {@link ISO_TIME}s (the times this program
   * writes), as strings otherwise.
   */
  private firstSeenSince(since: string): (n: number) => boolean {
    const firstSeen = this.firstSeen;
    const odd = this.oddFirstSeen;
    const sinceMs = isoMs(since);
    const text = (n: number): string => {
      const ms = firstSeen[n] as number;
      return Number.isNaN(ms) ? (odd.get(n) ?? '') : new Date(ms).toISOString();
    };
    if (Number.isNaN(sinceMs)) return (n) => text(n) >= since;
    return (n) => {
      const ms = firstSeen[n] as number;
      return Number.isNaN(ms) ? (odd.get(n) ?? '') >= since : ms >= sinceMs;
    };
  }
}
