/**
 * The search index: postings from index keys to papers, so a query touches only the papers its
 * terms occur in. Term-only queries are answered from the postings (with term frequencies for
 * ranking); phrases, prefixes, regexes and negations narrow candidates the same way and are
 * then verified on each candidate by the query compiled on its own (a {@link QueryProgram}:
 * one scan of the paper's text, no token objects), which answers and scores exactly as the
 * interpreter does.
 */
import { detachText, type Paper } from '../paper.js';
import { foldText, stem, tokenize } from './analyze.js';
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

const NON_ASCII = /[^\p{ASCII}]/u;

const isWordChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57);

/**
 * The words {@link tokenize} finds in lower-cased ASCII text, as written, without building
 * tokens: each run of letters and digits, and for a hyphen compound its parts and then its
 * joined form. Returns how many that is.
 */
function scanAsciiWords(s: string, emit: (raw: string) => void): number {
  let count = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    if (!isWordChar(s.charCodeAt(i))) {
      i++;
      continue;
    }
    let parts: string[] | undefined;
    let start = i;
    for (;;) {
      let j = start;
      while (j < n && isWordChar(s.charCodeAt(j))) j++;
      const part = s.slice(start, j);
      const compound = s.charCodeAt(j) === 45 && j + 1 < n && isWordChar(s.charCodeAt(j + 1));
      if (!compound && parts === undefined) {
        emit(part);
        count++;
        i = j;
        break;
      }
      parts ??= [];
      parts.push(part);
      emit(part);
      count++;
      if (compound) {
        start = j + 1;
        continue;
      }
      emit(parts.join(''));
      count++;
      i = j;
      break;
    }
  }
  return count;
}

/** A paper in the index: its text as a slot in the {@link TextArena}. */
interface StoredDoc {
  id: string;
  text: number;
  categories: string[];
  sources: string[];
}

/**
 * Strings kept as UTF-8 bytes in large chunks, so they cost the JS heap nothing. `put` returns a
 * slot; `get` decodes it (a few µs for a paper's text, paid only for verified candidates).
 * Slots are never freed: a paper indexed again leaves its old bytes until the process restarts.
 */
class TextArena {
  private static readonly CHUNK = 8 << 20;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly chunks: Uint8Array[] = [];
  private used = 0;
  /** Per slot: chunk, start and end. */
  private slots = new Int32Array(3 * 1024);
  private n = 0;

  put(text: string): number {
    // Written straight into the chunk; a text that does not fit starts a new one (UTF-8 takes
    // at most 3 bytes per UTF-16 unit, so a chunk that size always holds it).
    let written = -1;
    if (this.chunks.length > 0) {
      const r = this.encoder.encodeInto(text, (this.chunks.at(-1) as Uint8Array).subarray(this.used));
      if (r.read === text.length) written = r.written;
    }
    if (written < 0) {
      const fresh = new Uint8Array(Math.max(TextArena.CHUNK, 3 * text.length));
      this.chunks.push(fresh);
      this.used = 0;
      written = this.encoder.encodeInto(text, fresh).written;
    }
    const chunk = this.chunks.length - 1;
    if (3 * (this.n + 1) > this.slots.length) {
      const next = new Int32Array(this.slots.length * 2);
      next.set(this.slots);
      this.slots = next;
    }
    const slot = this.n++;
    this.slots[3 * slot] = chunk;
    this.slots[3 * slot + 1] = this.used;
    this.slots[3 * slot + 2] = this.used + written;
    this.used += written;
    return slot;
  }

  get(slot: number): string {
    const chunk = this.chunks[this.slots[3 * slot] as number] as Uint8Array;
    return this.decoder.decode(chunk.subarray(this.slots[3 * slot + 1], this.slots[3 * slot + 2]));
  }
}

function paperOf(d: StoredDoc, texts: TextArena): MatchablePaper {
  // JSON keeps every string exact, lone surrogates included (they are written as escapes).
  const [title, abstract, authors] = JSON.parse(texts.get(d.text)) as [string, string, string[]];
  return { id: d.id, title, abstract, authors, categories: d.categories, sources: d.sources };
}

export function createSearchIndex(): SearchIndex {
  const ids: string[] = [];
  /** Live papers by number (a removed one is skipped when read). */
  const docs: Array<StoredDoc | undefined> = [];
  const texts = new TextArena();
  const byId = new Map<string, number>();
  /**
   * Title/abstract stems and author stems get small integer ids, so adding a paper looks each
   * word up once and never builds a key string; categories and sources (a few per paper) keep
   * string keys.
   */
  const wordIds = new Map<string, number>();
  const authorIds = new Map<string, number>();
  const wordPostings: IntList[] = [];
  /** Title and abstract term frequencies, parallel to `wordPostings`: title << 16 | abstract. */
  const wordTfs: IntList[] = [];
  const authorPostings: IntList[] = [];
  const codePostings = new Map<string, IntList>();
  /**
   * Every word as written → its stem's id, over every indexed title and abstract (and author
   * names): prefix terms scan these, and one lookup of the word gives the stem's id.
   */
  const vocabulary = new Map<string, number>();
  const authorVocabulary = new Map<string, number>();
  let live = 0;
  let titleWords = 0;
  let abstractWords = 0;
  // Per-paper scratch, stamped with the paper's number instead of cleared.
  let stamp = new Int32Array(1024).fill(-1);
  let tfScratch = new Int32Array(1024);
  const touched: number[] = [];

  const idOf = (map: Map<string, number>, lists: IntList[], stem: string, withTf: boolean): number => {
    let id = map.get(stem);
    if (id === undefined) {
      id = lists.length;
      map.set(stem, id);
      lists.push(new IntList());
      if (withTf) wordTfs.push(new IntList());
    }
    return id;
  };
  const ensureScratch = (size: number) => {
    if (size <= stamp.length) return;
    const n = Math.max(size, stamp.length * 2);
    const nextStamp = new Int32Array(n).fill(-1);
    nextStamp.set(stamp);
    const nextTf = new Int32Array(n);
    nextTf.set(tfScratch);
    stamp = nextStamp;
    tfScratch = nextTf;
  };
  /** Counts one word as written (its stem is only worked out the first time the word is seen). */
  const countWord = (raw: string, knownStem: string | undefined, n: number, weight: number) => {
    let id = vocabulary.get(raw);
    if (id === undefined) {
      id = idOf(wordIds, wordPostings, knownStem ?? stem(raw), true);
      vocabulary.set(raw, id);
    }
    ensureScratch(id + 1);
    if (stamp[id] !== n) {
      stamp[id] = n;
      tfScratch[id] = 0;
      touched.push(id);
    }
    tfScratch[id] = (tfScratch[id] as number) + weight;
  };
  /** Counts a field's words; returns how many tokens {@link tokenize} would give it. */
  const countField = (text: string, n: number, weight: number): number => {
    if (NON_ASCII.test(text)) {
      const tokens = tokenize(text);
      for (const t of tokens) countWord(t.raw, t.stem, n, weight);
      return tokens.length;
    }
    return scanAsciiWords(text.toLowerCase(), (raw) => countWord(raw, undefined, n, weight));
  };
  const addCode = (key: string, n: number) => {
    let list = codePostings.get(key);
    if (!list) {
      list = new IntList();
      codePostings.set(key, list);
    }
    if (list.n === 0 || list.buf[list.n - 1] !== n) list.push(n);
  };

  const add = (p: MatchablePaper) => {
    if (byId.has(p.id)) remove(p.id);
    const n = ids.length;
    // Kept for the life of the index: a copy, never a slice of the document it came from.
    const id = detachText(p.id);
    ids.push(id);
    // Only what verification needs (the full record stays in the store), and its text off the JS
    // heap: 100k papers' titles and abstracts are ~180 MB, which as strings V8 keeps (and scans,
    // and leaves slack for) in its heap. As bytes they are also copies: a title kept as parsed
    // would be a slice keeping its whole feed document alive.
    docs.push({
      id,
      text: texts.put(JSON.stringify([p.title, p.abstract, p.authors])),
      categories: p.categories.map(detachText),
      sources: p.sources.map(detachText),
    });
    byId.set(id, n);
    live++;

    touched.length = 0;
    titleWords += countField(p.title, n, 0x10000);
    abstractWords += countField(p.abstract, n, 1);
    for (const id of touched) {
      (wordPostings[id] as IntList).push(n);
      (wordTfs[id] as IntList).push(Math.min(tfScratch[id] as number, 0x7fffffff));
    }
    // Author words: postings only (no ranking by author), each once per paper.
    touched.length = 0;
    for (const a of p.authors) {
      for (const t of tokenize(a)) {
        let id = authorVocabulary.get(t.raw);
        if (id === undefined) {
          id = idOf(authorIds, authorPostings, t.stem, false);
          authorVocabulary.set(t.raw, id);
        }
        const list = authorPostings[id] as IntList;
        if (list.n === 0 || list.buf[list.n - 1] !== n) list.push(n);
      }
    }
    for (const c of p.categories) {
      const f = foldText(c);
      addCode(`c:${f}`, n);
      addCode(`cp:${f.slice(0, 2)}`, n);
    }
    for (const x of p.sources) {
      const f = foldText(x);
      addCode(`s:${f}`, n);
      addCode(`sp:${f.slice(0, 2)}`, n);
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

  /** The postings of a stem in titles and abstracts, or in author names. */
  const stemPostings = (author: boolean, stem: string): IntList | undefined => {
    const id = (author ? authorIds : wordIds).get(stem);
    return id === undefined ? undefined : (author ? authorPostings : wordPostings)[id];
  };
  const tfsOf = (stem: string): IntList | undefined => {
    const id = wordIds.get(stem);
    return id === undefined ? undefined : wordTfs[id];
  };

  /** The papers of a postings list that are still indexed. */
  const liveDocs = (l: IntList | undefined): Set<number> => {
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
          docs: liveDocs(stemPostings(q.field === 'author', q.word)),
          exact: q.field === 'text' || q.field === 'author',
        };
      case 'phrase': {
        let s: Set<number> | undefined;
        for (const w of q.words) {
          const l = liveDocs(stemPostings(q.field === 'author', w));
          s = s ? intersect(s, l) : l;
        }
        return { docs: s ?? new Set(), exact: false };
      }
      case 'prefix': {
        const author = q.field === 'author';
        const stems = new Set<number>();
        for (const [raw, id] of author ? authorVocabulary : vocabulary)
          if (raw.startsWith(q.prefix)) stems.add(id);
        const hits = new Set<number>();
        for (const id of stems) {
          const l = (author ? authorPostings : wordPostings)[id] as IntList;
          for (let i = 0; i < l.n; i++) {
            const n = l.buf[i] as number;
            if (docs[n]) hits.add(n);
          }
        }
        return { docs: hits, exact: false };
      }
      case 'code':
        return q.prefix
          ? {
              docs: liveDocs(
                codePostings.get(`${q.field === 'category' ? 'cp' : 'sp'}:${q.code.slice(0, 2)}`),
              ),
              exact: false,
            }
          : {
              docs: liveDocs(codePostings.get(`${q.field === 'category' ? 'c' : 's'}:${q.code}`)),
              exact: true,
            };
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
    df: (stem: string) => tfsOf(stem)?.n ?? 0,
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
      const pl = stemPostings(false, leaf.word);
      const tl = tfsOf(leaf.word);
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
          const d = docs[n];
          if (!d) continue;
          const p = paperOf(d, texts);
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

export type { Paper };
