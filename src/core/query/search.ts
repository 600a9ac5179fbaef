/**
 * The search index: postings from index keys to papers, so a query touches only the papers its
 * terms occur in. Term-only queries are answered from the postings (with term frequencies for
 * ranking); phrases, prefixes, regexes and negations narrow candidates the same way and are
 * then verified on each candidate by the query compiled on its own (a {@link QueryProgram}:
 * one scan of the paper's text, no token objects), which answers and scores exactly as the
 * interpreter does.
 */
import { detachText, type Paper } from '../paper.js';
import { foldText, stem, type Token, tokenize } from './analyze.js';
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
import { PostingsLists } from './postings.js';
import { ByteReader, ByteWriter, type PaperWords, TextCodec } from './text-codec.js';

export interface SearchHit {
  paperId: string;
  score: number;
  terms: string[];
}

export interface SearchIndex extends CorpusStats {
  /**
   * Indexes a paper (in place of the one indexed under its id, if any). Returns its number: new
   * for every call, counting up from 0, so a caller can keep columns of its own by paper number.
   */
  add(p: MatchablePaper, words?: PaperWords): number;
  remove(id: string): void;
  /**
   * Ranked matches, best first (all of them when `limit` is large); with `accept`, only papers
   * whose number (as `add` returned it) it accepts.
   */
  search(q: Query, opts: { limit: number; accept?: (paper: number) => boolean }): SearchHit[];
  readonly size: number;
}

type Cand = { docs: Set<number> | 'all'; exact: boolean };

/**
 * Byte strings kept in large chunks, so they cost the JS heap nothing. `put` returns a slot; `get`
 * gives its bytes back. Slots are never freed: a paper indexed again leaves its old bytes until
 * the process restarts.
 */
class TextArena {
  private static readonly CHUNK = 8 << 20;
  private readonly chunks: Uint8Array[] = [];
  private used = 0;
  /** Per slot: chunk, start and end. */
  private slots = new Int32Array(3 * 1024);
  private n = 0;

  put(bytes: Uint8Array): number {
    let chunk = this.chunks.at(-1);
    if (!chunk || this.used + bytes.length > chunk.length) {
      chunk = new Uint8Array(Math.max(TextArena.CHUNK, bytes.length));
      this.chunks.push(chunk);
      this.used = 0;
    }
    chunk.set(bytes, this.used);
    if (3 * (this.n + 1) > this.slots.length) {
      const next = new Int32Array(this.slots.length * 2);
      next.set(this.slots);
      this.slots = next;
    }
    const slot = this.n++;
    this.slots[3 * slot] = this.chunks.length - 1;
    this.slots[3 * slot + 1] = this.used;
    this.slots[3 * slot + 2] = this.used + bytes.length;
    this.used += bytes.length;
    return slot;
  }

  get(slot: number): Uint8Array {
    const chunk = this.chunks[this.slots[3 * slot] as number] as Uint8Array;
    return chunk.subarray(this.slots[3 * slot + 1], this.slots[3 * slot + 2]);
  }
}

/**
 * Lists of strings (a paper's categories, its sources), each distinct list kept once: papers
 * arrive by structured clone or JSON, so every paper's `['cs.LG']` is an array and a string of
 * its own, and papers have far fewer distinct lists than there are papers (a source list is one
 * of a handful). The lists are shared: nothing may change them.
 */
class StringLists {
  private readonly lists: string[][] = [];
  /** Lists of one string (most of them), by that string: no key to build. */
  private readonly singles = new Map<string, number>();
  private readonly others = new Map<string, number>();

  /** The number of the list equal to `list`, which is copied the first time it is seen. */
  intern(list: readonly string[]): number {
    const numbers = list.length === 1 ? this.singles : this.others;
    // JSON, not a join: no separator a category could contain makes two lists one key. It costs
    // ~0.1 µs a list, which one-string lists, a map lookup, save.
    const key = list.length === 1 ? (list[0] as string) : JSON.stringify(list);
    let n = numbers.get(key);
    if (n === undefined) {
      n = this.lists.length;
      this.lists.push(list.map(detachText));
      numbers.set(detachText(key), n);
    }
    return n;
  }

  get(n: number): string[] {
    return this.lists[n] as string[];
  }
}

/**
 * Paper ids to their numbers: an open-addressing table of numbers in an Int32Array, the ids
 * being those the index keeps anyway (`ids`, by number). A `Map` held 3.7 MB of heap for 100k
 * papers (three pointers an entry, and room to grow); this holds 1 MB outside the heap.
 */
class IdNumbers {
  private static readonly FREE = -1;
  /** A removed entry: lookups go on past it, an insertion may take it. */
  private static readonly GONE = -2;
  private slots = new Int32Array(1024).fill(IdNumbers.FREE);
  /** Slots not free: live entries and removed ones. */
  private taken = 0;
  private live = 0;

  constructor(private readonly ids: readonly string[]) {}

  /** `id`'s number, or -1. */
  get(id: string): number {
    const n = this.slots[this.find(id)] as number;
    return n >= 0 ? n : -1;
  }

  /** Records `n` as the number of `ids[n]`, which has none. */
  add(n: number): void {
    if (2 * (this.taken + 1) > this.slots.length) this.rehash();
    const mask = this.slots.length - 1;
    let at = hashId(this.ids[n] as string) & mask;
    while ((this.slots[at] as number) >= 0) at = (at + 1) & mask;
    if (this.slots[at] === IdNumbers.FREE) this.taken++;
    this.slots[at] = n;
    this.live++;
  }

  /** Forgets `id`'s number, if it has one. */
  delete(id: string): void {
    const at = this.find(id);
    if ((this.slots[at] as number) < 0) return;
    this.slots[at] = IdNumbers.GONE;
    this.live--;
  }

  /** The slot holding `id`'s number, else the free slot where its search ended. */
  private find(id: string): number {
    const mask = this.slots.length - 1;
    let at = hashId(id) & mask;
    for (;;) {
      const n = this.slots[at] as number;
      if (n === IdNumbers.FREE || (n >= 0 && this.ids[n] === id)) return at;
      at = (at + 1) & mask;
    }
  }

  /** At most half full, removed entries included: room for as many again as are live. */
  private rehash(): void {
    const old = this.slots;
    let size = 1024;
    while (size < 4 * (this.live + 1)) size *= 2;
    this.slots = new Int32Array(size).fill(IdNumbers.FREE);
    this.taken = this.live = 0;
    for (const n of old) if (n >= 0) this.add(n);
  }
}

/** FNV-1a over the UTF-16 code units, then murmur3's finaliser: ids differ in their last digits. */
function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Numbers by short sequences of the codec's word ids (a hyphen compound's parts as written): a
 * compound seen before gives its joined form's stem without the joined string being built.
 * Open addressing over a hash of the ids; each entry's length, number and ids are kept end to
 * end in `entries`.
 */
class SequenceTable {
  /** Per slot: the entry's offset in `entries` + 1, or 0. */
  private slots = new Int32Array(1024);
  private entries = new Int32Array(1024);
  private used = 0;
  private count = 0;

  /** The number kept for `ids[from, to)`, or -1. */
  get(ids: Int32Array, from: number, to: number): number {
    const mask = this.slots.length - 1;
    const entries = this.entries;
    for (let slot = hashIds(ids, from, to) & mask; ; slot = (slot + 1) & mask) {
      const e = (this.slots[slot] as number) - 1;
      if (e < 0) return -1;
      if (entries[e] !== to - from) continue;
      let k = 0;
      while (from + k < to && entries[e + 2 + k] === ids[from + k]) k++;
      if (from + k === to) return entries[e + 1] as number;
    }
  }

  /** Keeps `value` for `ids[from, to)`, which has none. */
  set(ids: Int32Array, from: number, to: number, value: number): void {
    const len = to - from;
    if (this.used + 2 + len > this.entries.length) {
      const next = new Int32Array(Math.max(2 * this.entries.length, this.used + 2 + len));
      next.set(this.entries);
      this.entries = next;
    }
    const e = this.used;
    this.entries[e] = len;
    this.entries[e + 1] = value;
    this.entries.set(ids.subarray(from, to), e + 2);
    this.used += 2 + len;
    if (2 * ++this.count > this.slots.length) this.rehash();
    else this.place(e);
  }

  private place(e: number): void {
    const mask = this.slots.length - 1;
    const len = this.entries[e] as number;
    let slot = hashIds(this.entries, e + 2, e + 2 + len) & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = e + 1;
  }

  private rehash(): void {
    this.slots = new Int32Array(2 * this.slots.length);
    for (let e = 0; e < this.used; e += 2 + (this.entries[e] as number)) this.place(e);
  }
}

/** FNV-1a over the ids, then murmur3's finaliser. */
function hashIds(ids: Int32Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ (ids[i] as number), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The words of one kind of field (titles and abstracts, or author names): each word as written,
 * lower-cased, to its stem's postings list, and the same by the codec's word ids, so the words
 * of an ASCII string are found without a string being built.
 */
class Vocabulary {
  /** Every word as written, lower-cased → its stem's list: prefix terms scan these. */
  readonly raws = new Map<string, number>();
  /** Stems → their lists. */
  readonly stems = new Map<string, number>();
  /** The lists of the tokens of the last string {@link read}. */
  lists = new Int32Array(512);
  /** Per word as written (the codec's id): its stem's list, or -1 before it is first read. */
  private ofWord = new Int32Array(1024).fill(-1);
  /** Hyphen compounds as written (the codec's ids of their parts) → the joined form's list. */
  private readonly compounds = new SequenceTable();

  constructor(
    readonly postings: PostingsLists,
    private readonly codec: TextCodec,
  ) {}

  /** The list of a lower-cased word's stem (the stem is only worked out the first time). */
  idOf(raw: string, knownStem: string | undefined): number {
    let id = this.raws.get(raw);
    if (id === undefined) {
      const stemmed = knownStem ?? stem(raw);
      id = this.stems.get(stemmed);
      if (id === undefined) {
        id = this.postings.create();
        this.stems.set(stemmed, id);
      }
      this.raws.set(raw, id);
    }
    return id;
  }

  /**
   * Puts in {@link lists} the list of each token {@link tokenize} gives `text`, in its order, and
   * returns how many there are. `text` is the string the codec encoded last, in `words` words: in
   * ASCII text those are the codec's words, lower-cased, and for a hyphen compound its parts
   * and then its joined form.
   */
  read(text: string, words: number): number {
    const codec = this.codec;
    if (!codec.ascii) {
      const tokens = tokenize(text);
      this.room(tokens.length);
      for (let k = 0; k < tokens.length; k++) {
        const t = tokens[k] as Token;
        this.lists[k] = this.idOf(t.raw, t.stem);
      }
      return tokens.length;
    }
    // A compound of w words adds one token: at most 1.5 tokens a word.
    this.room(words + (words >> 1) + 1);
    if (codec.words.length > this.ofWord.length) {
      const next = new Int32Array(Math.max(codec.words.length, this.ofWord.length * 2)).fill(-1);
      next.set(this.ofWord);
      this.ofWord = next;
    }
    const ids = codec.ids;
    const hyphenAfter = codec.hyphenAfter;
    const ofWord = this.ofWord;
    const lists = this.lists;
    let count = 0;
    let compoundFrom = -1;
    for (let k = 0; k < words; k++) {
      const word = ids[k] as number;
      let id = ofWord[word] as number;
      if (id < 0) {
        id = this.idOf((codec.words[word] as string).toLowerCase(), undefined);
        ofWord[word] = id;
      }
      lists[count++] = id;
      if (hyphenAfter[k]) {
        if (compoundFrom < 0) compoundFrom = k;
      } else if (compoundFrom >= 0) {
        lists[count++] = this.joinedId(compoundFrom, k + 1);
        compoundFrom = -1;
      }
    }
    return count;
  }

  /** The list of the joined form of the codec's words `from` to `to` of the last string. */
  private joinedId(from: number, to: number): number {
    const ids = this.codec.ids;
    let id = this.compounds.get(ids, from, to);
    if (id < 0) {
      const parts: string[] = [];
      for (let k = from; k < to; k++)
        parts.push((this.codec.words[ids[k] as number] as string).toLowerCase());
      id = this.idOf(parts.join(''), undefined);
      this.compounds.set(ids, from, to, id);
    }
    return id;
  }

  private room(tokens: number): void {
    if (tokens > this.lists.length) this.lists = new Int32Array(Math.max(tokens, 2 * this.lists.length));
  }
}

export interface SearchIndexOptions {
  /**
   * The papers' strings are copies already (a worker thread's, made by structured clone): ids are
   * kept as given. By default each id is copied, as a string cut from a feed document would keep
   * the whole document alive (~150 ms of a 100k-paper cycle on the search thread).
   */
  ownStrings?: boolean;
}

export function createSearchIndex(options: SearchIndexOptions = {}): SearchIndex {
  const keep = options.ownStrings ? (s: string) => s : detachText;
  /** Every paper's id by number, removed ones too (their numbers are never used again). */
  const ids: string[] = [];
  /**
   * Per paper number: its categories' and its sources' list in {@link StringLists}, or -1 for the
   * categories of a removed paper. Columns, not an object and two arrays a paper: the index of
   * 100k synthetic papers held 33 MB of heap after a full GC, 11 MB with these columns.
   */
  let paperLists = new Int32Array(2 * 1024);
  const stringLists = new StringLists();
  /** Papers' text, one slot a paper: a paper's slot is its number. */
  const texts = new TextArena();
  const codec = new TextCodec();
  const writer = new ByteWriter();
  const byId = new IdNumbers(ids);
  /**
   * Title/abstract stems and author stems get small integer ids (their postings lists), so adding
   * a paper looks each word up once and never builds a key string; categories and sources (a
   * few per paper) keep string keys.
   */
  const text = new Vocabulary(new PostingsLists(true), codec);
  const authorText = new Vocabulary(new PostingsLists(false), codec);
  const wordIds = text.stems;
  const authorIds = authorText.stems;
  /** Per title/abstract stem: its papers, each with its term frequencies ({@link packTf}). */
  const wordPostings = text.postings;
  /** Title term frequencies of 7 and more, by `stem id:paper number` (a handful in a corpus). */
  const bigTitleTf = new Map<string, number>();
  const authorPostings = authorText.postings;
  const codeLists = new Map<string, number>();
  const codePostings = new PostingsLists(false);
  /**
   * Per list of {@link StringLists}: the code lists of its strings as categories, or as sources
   * (`c:`/`cp:` or `s:`/`sp:` keys), worked out the first time a paper has it.
   */
  const categoryCodes: Int32Array[] = [];
  const sourceCodes: Int32Array[] = [];
  /** Every word as written → its stem's id, over every indexed title and abstract (and author names). */
  const vocabulary = text.raws;
  const authorVocabulary = authorText.raws;
  let live = 0;
  let titleWords = 0;
  let abstractWords = 0;
  // Per-paper scratch, stamped with the paper's number instead of cleared.
  let stamp = new Int32Array(1024).fill(-1);
  let tfScratch = new Int32Array(1024);
  /**
   * The stems the paper has, first `touchedCount`: each once, so it needs no more room than
   * there are stems. An array emptied by `length = 0` gives up its store and grows it again word
   * by word: ~3.6 kB of garbage a paper.
   */
  let touched = new Int32Array(1024);
  let touchedCount = 0;

  const idOf = (map: Map<string, number>, lists: PostingsLists, stem: string): number => {
    let id = map.get(stem);
    if (id === undefined) {
      id = lists.create();
      map.set(stem, id);
    }
    return id;
  };
  /** A paper's title and abstract term frequencies as one small number (a byte, mostly). */
  const packTf = (id: number, n: number, title: number, abstract: number): number => {
    if (title >= 7) bigTitleTf.set(`${id}:${n}`, title);
    return abstract * 8 + Math.min(title, 7);
  };
  const unpackTf = (id: number, n: number, packed: number): { title: number; abstract: number } => {
    const t = packed % 8;
    return {
      title: t === 7 ? (bigTitleTf.get(`${id}:${n}`) as number) : t,
      abstract: Math.floor(packed / 8),
    };
  };
  const ensureScratch = (size: number) => {
    if (size <= stamp.length) return;
    const n = Math.max(size, stamp.length * 2);
    const nextStamp = new Int32Array(n).fill(-1);
    nextStamp.set(stamp);
    const nextTf = new Int32Array(n);
    nextTf.set(tfScratch);
    const nextTouched = new Int32Array(n);
    nextTouched.set(touched);
    stamp = nextStamp;
    tfScratch = nextTf;
    touched = nextTouched;
  };
  /** Counts the tokens of a title or abstract, encoded last in `words` words; returns how many. */
  const countField = (field: string, words: number, n: number, weight: number): number => {
    const count = text.read(field, words);
    ensureScratch(wordPostings.size);
    const lists = text.lists;
    for (let k = 0; k < count; k++) {
      const id = lists[k] as number;
      if (stamp[id] !== n) {
        stamp[id] = n;
        tfScratch[id] = 0;
        touched[touchedCount++] = id;
      }
      tfScratch[id] = (tfScratch[id] as number) + weight;
    }
    return count;
  };
  /** Whether paper `n` is indexed (not removed). */
  const indexed = (n: number) => (paperLists[2 * n] as number) >= 0;
  /** Paper `n`'s text back from its slot: title, abstract, the number of authors and each name. */
  const paperOf = (n: number): MatchablePaper => {
    const r = new ByteReader(texts.get(n));
    const title = codec.decode(r);
    const abstract = codec.decode(r);
    const authors: string[] = [];
    for (let i = r.varint(); i > 0; i--) authors.push(codec.decode(r));
    return {
      id: ids[n] as string,
      title,
      abstract,
      authors,
      categories: stringLists.get(paperLists[2 * n] as number),
      sources: stringLists.get(paperLists[2 * n + 1] as number),
    };
  };
  /** The code lists of list `list` as categories (`kind` c) or sources (s), made once. */
  const codesOf = (cache: Int32Array[], kind: string, list: number): Int32Array => {
    let codes = cache[list];
    if (codes === undefined) {
      const strings = stringLists.get(list);
      codes = new Int32Array(2 * strings.length);
      strings.forEach((x, i) => {
        const f = foldText(x);
        (codes as Int32Array)[2 * i] = idOf(codeLists, codePostings, `${kind}:${f}`);
        (codes as Int32Array)[2 * i + 1] = idOf(codeLists, codePostings, `${kind}p:${f.slice(0, 2)}`);
      });
      cache[list] = codes;
    }
    return codes;
  };
  const addCodes = (codes: Int32Array, n: number) => {
    for (const list of codes) if (codePostings.last(list) !== n) codePostings.append(list, n);
  };

  const add = (p: MatchablePaper, words?: PaperWords) => {
    remove(p.id);
    const n = ids.length;
    // Kept for the life of the index: a copy, never a slice of the document it came from.
    const id = keep(p.id);
    ids.push(id);
    // Only what verification needs (the full record stays in the store), and its text off the JS
    // heap, as interned words (ADR 6): 100k papers' titles and abstracts are ~180 MB as strings,
    // which V8 keeps (and scans, and leaves slack for) in its heap; as codes, a few tens of MB. They
    // are also copies: a title kept as parsed would be a slice keeping its whole feed alive.
    touchedCount = 0;
    writer.reset();
    const inTitle = codec.encode(p.title, writer);
    words?.title.take(codec, p.title, inTitle);
    titleWords += countField(p.title, inTitle, n, 0x10000);
    const inAbstract = codec.encode(p.abstract, writer);
    words?.abstract.take(codec, p.abstract, inAbstract);
    abstractWords += countField(p.abstract, inAbstract, n, 1);
    writer.varint(p.authors.length);
    // Author words: postings only (no ranking by author), each once per paper.
    for (const a of p.authors) {
      const count = authorText.read(a, codec.encode(a, writer));
      const lists = authorText.lists;
      for (let k = 0; k < count; k++) {
        const list = lists[k] as number;
        if (authorPostings.last(list) !== n) authorPostings.append(list, n);
      }
    }
    if (texts.put(writer.bytes.subarray(0, writer.length)) !== n)
      throw new Error('search: text slot out of step');
    if (2 * n + 2 > paperLists.length) {
      const next = new Int32Array(paperLists.length * 2);
      next.set(paperLists);
      paperLists = next;
    }
    const categories = stringLists.intern(p.categories);
    const sources = stringLists.intern(p.sources);
    paperLists[2 * n] = categories;
    paperLists[2 * n + 1] = sources;
    byId.add(n);
    live++;
    for (let k = 0; k < touchedCount; k++) {
      const id = touched[k] as number;
      const tf = tfScratch[id] as number;
      wordPostings.append(id, n, packTf(id, n, Math.floor(tf / 0x10000), tf % 0x10000));
    }
    addCodes(codesOf(categoryCodes, 'c', categories), n);
    addCodes(codesOf(sourceCodes, 's', sources), n);
    return n;
  };

  const remove = (id: string) => {
    const n = byId.get(id);
    if (n < 0) return;
    // Postings keep the number; a removed document is skipped when read.
    paperLists[2 * n] = -1;
    byId.delete(id);
    live--;
  };

  /** The papers still indexed of list `id` in `lists` (none for an unknown list). */
  const liveDocs = (lists: PostingsLists, id: number | undefined): Set<number> => {
    const out = new Set<number>();
    if (id !== undefined)
      lists.forEach(id, (n) => {
        if (indexed(n)) out.add(n);
      });
    return out;
  };
  /** The papers still indexed whose titles and abstracts, or author names, have `stem`. */
  const stemDocs = (author: boolean, stem: string): Set<number> =>
    author ? liveDocs(authorPostings, authorIds.get(stem)) : liveDocs(wordPostings, wordIds.get(stem));

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
          docs: stemDocs(q.field === 'author', q.word),
          exact: q.field === 'text' || q.field === 'author',
        };
      case 'phrase': {
        let s: Set<number> | undefined;
        for (const w of q.words) {
          const l = stemDocs(q.field === 'author', w);
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
        for (const id of stems)
          (author ? authorPostings : wordPostings).forEach(id, (n) => {
            if (indexed(n)) hits.add(n);
          });
        return { docs: hits, exact: false };
      }
      case 'code':
        return q.prefix
          ? {
              docs: liveDocs(
                codePostings,
                codeLists.get(`${q.field === 'category' ? 'cp' : 'sp'}:${q.code.slice(0, 2)}`),
              ),
              exact: false,
            }
          : {
              docs: liveDocs(codePostings, codeLists.get(`${q.field === 'category' ? 'c' : 's'}:${q.code}`)),
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
    df: (stem: string) => {
      const id = wordIds.get(stem);
      return id === undefined ? 0 : wordPostings.count(id);
    },
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
      const id = wordIds.get(leaf.word);
      if (id === undefined) continue;
      const df = wordPostings.count(id);
      const idf = Math.log(1 + (stats.papers - df + 0.5) / (df + 0.5));
      // Saturating term frequency (BM25 without length normalisation: lengths are not kept).
      const bm = (tf: number) => (tf === 0 ? 0 : (idf * tf * 2.2) / (tf + 1.2));
      wordPostings.forEach(id, (n, packed) => {
        const entry = out.get(n);
        if (!entry) return;
        const tf = unpackTf(id, n, packed);
        entry.score += 3 * bm(tf.title) + bm(tf.abstract);
        if (!entry.terms.includes(leaf.text)) entry.terms.push(leaf.text);
      });
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
      const accept = opts.accept;
      if (accept && c.docs !== 'all') for (const n of c.docs) if (!accept(n)) c.docs.delete(n);
      let hits: Array<{ n: number; score: number; terms: string[] }> = [];
      if (c.exact && c.docs !== 'all') {
        for (const [n, s] of scoreFromPostings(q, c.docs)) hits.push({ n, ...s });
      } else {
        const pool: Iterable<number> = c.docs === 'all' ? ids.keys() : c.docs;
        const program = new QueryProgram([q], stats);
        for (const n of pool) {
          if (!indexed(n) || (accept && c.docs === 'all' && !accept(n))) continue;
          const p = paperOf(n);
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
