/**
 * The search index: postings from index keys to papers, so a query touches only the papers its
 * terms occur in. Term-only queries are answered from the postings (with term frequencies for
 * ranking); phrases, prefixes, regexes and negations narrow candidates the same way and are
 * then verified on each candidate by the query compiled on its own (a {@link QueryProgram}:
 * one scan of the paper's text, no token objects), which answers and scores exactly as the
 * interpreter does.
 */
import type { Paper } from '../paper.js';
import { QueryProgram } from './compile.js';
import {
  type AnalyzedPaper,
  analyzePaper,
  type CorpusStats,
  type MatchablePaper,
  matchesQuery,
  scoreMatch,
} from './match.js';
import type { Query } from './parse.js';

class IntList {
  buf = new Int32Array(4);
  n = 0;
  push(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
}

export interface SearchHit {
  paperId: string;
  score: number;
  terms: string[];
}

export interface SearchIndex extends CorpusStats {
  add(p: MatchablePaper): void;
  remove(id: string): void;
  /** Ranked matches, best first (all of them when `limit` is large). */
  search(q: Query, opts: { limit: number }): SearchHit[];
  readonly size: number;
}

type Cand = { docs: Set<number> | 'all'; exact: boolean };

export function createSearchIndex(): SearchIndex {
  const ids: string[] = [];
  const docs: Array<MatchablePaper | undefined> = [];
  const byId = new Map<string, number>();
  const postings = new Map<string, IntList>();
  /** Title and abstract term frequencies of `w:` postings, packed as title << 16 | abstract. */
  const tfs = new Map<string, IntList>();
  /** Folded word → its stem, over every indexed title and abstract (and author names). */
  const vocabulary = new Map<string, string>();
  const authorVocabulary = new Map<string, string>();
  let live = 0;
  let titleWords = 0;
  let abstractWords = 0;

  const add = (p: MatchablePaper) => {
    if (byId.has(p.id)) remove(p.id);
    const n = ids.length;
    ids.push(p.id);
    // Keep only what verification needs; the full record stays in the store.
    docs.push({
      id: p.id,
      title: p.title,
      abstract: p.abstract,
      authors: p.authors,
      categories: p.categories,
      sources: p.sources,
    });
    byId.set(p.id, n);
    live++;
    const doc = analyzePaper(p);
    titleWords += doc.title.tokens.length;
    abstractWords += doc.abstract.tokens.length;
    const tf = new Map<string, number>();
    for (const [stem, n] of doc.title.tf) tf.set(stem, n * 0x10000);
    for (const [stem, n] of doc.abstract.tf) tf.set(stem, (tf.get(stem) ?? 0) + n);
    // Words are remembered once for prefix terms (a prefix scans the vocabulary, not papers).
    for (const f of [doc.title, doc.abstract])
      for (const t of f.tokens) if (!vocabulary.has(t.raw)) vocabulary.set(t.raw, t.stem);
    for (const t of doc.author.tokens) if (!authorVocabulary.has(t.raw)) authorVocabulary.set(t.raw, t.stem);
    for (const key of indexKeys(doc)) {
      let list = postings.get(key);
      if (!list) {
        list = new IntList();
        postings.set(key, list);
      }
      list.push(n);
      if (key.startsWith('w:')) {
        let tl = tfs.get(key);
        if (!tl) {
          tl = new IntList();
          tfs.set(key, tl);
        }
        tl.push(Math.min(tf.get(key.slice(2)) ?? 0, 0x7fffffff));
      }
    }
  };

  const remove = (id: string) => {
    const n = byId.get(id);
    if (n === undefined) return;
    // Postings keep the number; a removed document is skipped when read.
    docs[n] = undefined;
    byId.delete(id);
    live--;
  };

  const list = (key: string): Set<number> => {
    const l = postings.get(key);
    const out = new Set<number>();
    if (l) for (let i = 0; i < l.n; i++) if (docs[l.buf[i] as number]) out.add(l.buf[i] as number);
    return out;
  };

  const intersect = (a: Set<number>, b: Set<number>) => {
    const [small, big] = a.size <= b.size ? [a, b] : [b, a];
    const out = new Set<number>();
    for (const x of small) if (big.has(x)) out.add(x);
    return out;
  };

  const candidates = (q: Query): Cand => {
    switch (q.type) {
      case 'term':
        return {
          docs: list(`${q.field === 'author' ? 'a' : 'w'}:${q.word}`),
          exact: q.field === 'text' || q.field === 'author',
        };
      case 'phrase': {
        let s: Set<number> | undefined;
        for (const w of q.words) {
          const l = list(`${q.field === 'author' ? 'a' : 'w'}:${w}`);
          s = s ? intersect(s, l) : l;
        }
        return { docs: s ?? new Set(), exact: false };
      }
      case 'prefix': {
        const vocab = q.field === 'author' ? authorVocabulary : vocabulary;
        const stems = new Set<string>();
        for (const [raw, stem] of vocab) if (raw.startsWith(q.prefix)) stems.add(stem);
        const docs = new Set<number>();
        for (const stem of stems)
          for (const d of list(`${q.field === 'author' ? 'a' : 'w'}:${stem}`)) docs.add(d);
        return { docs, exact: false };
      }
      case 'code':
        return q.prefix
          ? { docs: list(`${q.field === 'category' ? 'cp' : 'sp'}:${q.code.slice(0, 2)}`), exact: false }
          : { docs: list(`${q.field === 'category' ? 'c' : 's'}:${q.code}`), exact: true };
      case 'regex':
        return { docs: 'all', exact: false };
      case 'not':
        return { docs: 'all', exact: false };
      case 'and': {
        let docs: Set<number> | 'all' = 'all';
        let exact = true;
        for (const c of q.children) {
          const r = candidates(c);
          exact &&= r.exact;
          if (r.docs !== 'all') docs = docs === 'all' ? r.docs : intersect(docs, r.docs);
        }
        return { docs, exact: exact && docs !== 'all' };
      }
      case 'or': {
        const docs = new Set<number>();
        let exact = true;
        for (const c of q.children) {
          const r = candidates(c);
          if (r.docs === 'all') return { docs: 'all', exact: false };
          exact &&= r.exact;
          for (const d of r.docs) docs.add(d);
        }
        return { docs, exact };
      }
    }
  };

  const stats: CorpusStats = {
    get papers() {
      return Math.max(live, 1);
    },
    df: (stem: string) => postings.get(`w:${stem}`)?.n ?? 0,
    get avgTitle() {
      return ids.length ? titleWords / ids.length : 10;
    },
    get avgAbstract() {
      return ids.length ? abstractWords / ids.length : 180;
    },
  };

  /** BM25 over term leaves, from the postings' term frequencies (exact candidates only). */
  const scoreFromPostings = (
    q: Query,
    hits: Set<number>,
  ): Map<number, { score: number; terms: string[] }> => {
    const out = new Map<number, { score: number; terms: string[] }>();
    for (const d of hits) out.set(d, { score: 0, terms: [] });
    const leaves: Array<Extract<Query, { type: 'term' }>> = [];
    const walk = (n: Query, neg: boolean) => {
      if (n.type === 'and' || n.type === 'or') for (const c of n.children) walk(c, neg);
      else if (n.type === 'not') walk(n.child, !neg);
      else if (n.type === 'term' && !neg && n.field === 'text') leaves.push(n);
    };
    walk(q, false);
    for (const leaf of leaves) {
      const key = `w:${leaf.word}`;
      const pl = postings.get(key);
      const tl = tfs.get(key);
      if (!pl || !tl) continue;
      const df = pl.n;
      const idf = Math.log(1 + (stats.papers - df + 0.5) / (df + 0.5));
      for (let i = 0; i < pl.n; i++) {
        const entry = out.get(pl.buf[i] as number);
        if (!entry) continue;
        const packed = tl.buf[i] as number;
        const t = packed >>> 16;
        const a = packed & 0xffff;
        // Saturating term frequency (BM25 without length normalisation: lengths are not kept).
        const bm = (tf: number) => (tf === 0 ? 0 : (idf * tf * 2.2) / (tf + 1.2));
        entry.score += 3 * bm(t) + bm(a);
        if (!entry.terms.includes(leaf.text)) entry.terms.push(leaf.text);
      }
    }
    return out;
  };

  return {
    add,
    remove,
    get size() {
      return live;
    },
    get papers() {
      return stats.papers;
    },
    df: stats.df,
    get avgTitle() {
      return stats.avgTitle;
    },
    get avgAbstract() {
      return stats.avgAbstract;
    },
    search(q, opts) {
      const c = candidates(q);
      let hits: Array<{ n: number; score: number; terms: string[] }> = [];
      if (c.exact && c.docs !== 'all') {
        for (const [n, s] of scoreFromPostings(q, c.docs)) hits.push({ n, ...s });
      } else {
        const pool: Iterable<number> = c.docs === 'all' ? docs.keys() : c.docs;
        const program = new QueryProgram([q], stats);
        for (const n of pool) {
          const p = docs[n];
          if (!p) continue;
          program.scan(p);
          if (program.fallback) {
            const doc: AnalyzedPaper = analyzePaper(p);
            if (!matchesQuery(q, doc)) continue;
            const s = scoreMatch(q, doc, stats);
            hits.push({ n, score: s.score, terms: s.terms });
            continue;
          }
          if (!program.test(0)) continue;
          const s = program.score(0);
          hits.push({ n, score: s.score, terms: s.terms });
        }
      }
      hits.sort((a, b) => b.score - a.score || (ids[a.n] as string).localeCompare(ids[b.n] as string));
      if (hits.length > opts.limit) hits = hits.slice(0, opts.limit);
      return hits.map((h) => ({
        paperId: ids[h.n] as string,
        score: Math.round(h.score * 1000) / 1000,
        terms: h.terms,
      }));
    },
  };
}

/** The keys the search index keeps: words, author words, categories and sources (no prefixes). */
function indexKeys(doc: AnalyzedPaper): string[] {
  const keys: string[] = [];
  const words = new Set<string>([...doc.title.tf.keys(), ...doc.abstract.tf.keys()]);
  for (const w of words) keys.push(`w:${w}`);
  for (const w of doc.author.tf.keys()) keys.push(`a:${w}`);
  for (const c of new Set(doc.categories)) keys.push(`c:${c}`, `cp:${c.slice(0, 2)}`);
  for (const x of new Set(doc.sources)) keys.push(`s:${x}`, `sp:${x.slice(0, 2)}`);
  return [...new Set(keys)];
}

export type { Paper };
