/**
 * The compiled matcher. Queries are compiled once into one flat program over small integer ids
 * (every stem and prefix the queries use is interned), and a paper is scanned once into per-id
 * presence, term frequencies and positions in typed arrays stamped with a per-paper epoch (no
 * Maps, Sets or token objects per paper). Words no query uses are counted and otherwise dropped.
 *
 * ASCII text is scanned byte by byte with a rolling hash: the stem's hash is derived from the
 * word's (a hash step can be undone), hyphen compounds hash their joined form with the hyphens
 * skipped, and no substring is built unless a query's answer needs the word as written.
 * Non-ASCII text goes through {@link tokenize}, so its tokens are by construction the
 * interpreter's. Answers and scores are exactly {@link matchesQuery} and {@link scoreMatch}:
 * phrases follow the interpreter's position rules, scores add the same terms in the same order.
 */
import type { RE2JS } from 're2js';
import { detachText } from '../paper.js';
import { foldText, tokenize } from './analyze.js';
import {
  type AnalyzedPaper,
  AUTHOR_GAP,
  bm25,
  type CorpusStats,
  DEFAULT_STATS,
  type MatchablePaper,
  type Matcher,
  type MatchHit,
  matchesQuery,
  phraseTerm,
  positiveLeaves,
  scoreMatch,
  TITLE_WEIGHT,
} from './match.js';
import type { Field, Query } from './parse.js';
import type { FieldWords, PaperWords, TextCodec } from './text-codec.js';

const TITLE = 0;
const ABSTRACT = 1;
const AUTHOR = 2;

/** ASCII letters and digits: the characters of a word in ASCII text. */
const ALNUM = new Uint8Array(256);
for (let c = 48; c <= 57; c++) ALNUM[c] = 1;
for (let c = 65; c <= 90; c++) ALNUM[c] = 1;
for (let c = 97; c <= 122; c++) ALNUM[c] = 1;

const ENCODER = new TextEncoder();
const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
/** FNV_PRIME's inverse modulo 2^32 (Newton's iteration): a hash step can be undone. */
const FNV_INVERSE = (() => {
  let x = FNV_PRIME;
  for (let k = 0; k < 5; k++) x = Math.imul(x, 2 - Math.imul(FNV_PRIME, x));
  return x;
})();

const NON_ASCII = /[^\p{ASCII}]/u;

/** The same rolling hash the scanner computes over a word's folded characters. */
function hashString(s: string): number {
  let h = FNV_BASIS;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

function slotOf(h: number, mask: number): number {
  return (Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0) & mask;
}

/**
 * Open addressing from a hash to the ids of strings, verified against the text's characters.
 * Hash and id sit side by side, so a probe reads one cache line.
 */
class CharTable {
  private readonly mask: number;
  /** [hash, id + 1] per slot; id 0 is an empty slot. */
  private readonly slots: Int32Array;
  /**
   * One bit per value of the hash's top 16 bits, set for the words of the table: 8 KB that stay
   * in the L1 cache and turn away most words of a paper before the table is probed.
   */
  readonly filter = new Int32Array(2048);

  constructor(private readonly words: readonly string[]) {
    let size = 16;
    while (size < words.length * 2) size <<= 1;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 2);
    for (const [id, w] of words.entries()) {
      const h = hashString(w);
      const top = h >>> 16;
      this.filter[top >>> 5] = (this.filter[top >>> 5] as number) | (1 << (top & 31));
      let i = slotOf(h, this.mask);
      while (this.slots[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      this.slots[2 * i] = h;
      this.slots[2 * i + 1] = id + 1;
    }
  }

  /**
   * Finds the id of the word made of `len` bytes of `b` from `start` (ASCII, folded here),
   * followed by the character `tail` when it is not -1; -1 when no query uses it.
   */
  find(h: number, b: Uint8Array, start: number, len: number, tail: number): number {
    const top = h >>> 16;
    if ((((this.filter[top >>> 5] as number) >>> (top & 31)) & 1) === 0) return -1;
    const slots = this.slots;
    for (let i = slotOf(h, this.mask); ; i = (i + 1) & this.mask) {
      const id = slots[2 * i + 1] as number;
      if (id === 0) return -1;
      if (slots[2 * i] === h && this.isWordAt(id - 1, b, start, len, tail)) return id - 1;
    }
  }

  private isWordAt(id: number, b: Uint8Array, start: number, len: number, tail: number): boolean {
    const w = this.words[id] as string;
    if (w.length !== (tail === -1 ? len : len + 1)) return false;
    for (let k = 0; k < len; k++) if (w.charCodeAt(k) !== ((b[start + k] as number) | 32)) return false;
    return tail === -1 || w.charCodeAt(len) === tail;
  }

  /** {@link find} for the joined form of a compound: the hyphens in `b` are skipped. */
  findJoined(h: number, b: Uint8Array, start: number, len: number, tail: number): number {
    const top = h >>> 16;
    if ((((this.filter[top >>> 5] as number) >>> (top & 31)) & 1) === 0) return -1;
    const slots = this.slots;
    for (let i = slotOf(h, this.mask); ; i = (i + 1) & this.mask) {
      const id = slots[2 * i + 1] as number;
      if (id === 0) return -1;
      if (slots[2 * i] !== h) continue;
      const w = this.words[id - 1] as string;
      if (w.length !== (tail === -1 ? len : len + 1)) continue;
      let at = start;
      let k = 0;
      for (; k < len; k++, at++) {
        let c = b[at] as number;
        if (c === 45) c = b[++at] as number;
        if (w.charCodeAt(k) !== (c | 32)) break;
      }
      if (k === len && (tail === -1 || w.charCodeAt(len) === tail)) return id - 1;
    }
  }
}

function growInt(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** No words as written (a stem's, before a paper needs them). */
const NO_WORDS: string[] = [];

/** What the scan of one text field keeps about the paper, reused from paper to paper. */
class FieldScan {
  /** Tokens of the field, as `FieldText.tokens.length` (compound joins included). */
  len = 0;
  /** Stem id of the plain token at each position (-1: no query uses it, -2: between authors). */
  pos = new Int32Array(512);
  npos = 0;
  /** Joined forms of compounds whose stem a query uses: stem id and last position covered. */
  jStem = new Int32Array(16);
  jEnd = new Int32Array(16);
  nj = 0;
  /** Tokens whose stem a query uses, in token order, for the words as written (highlighting). */
  rStem = new Int32Array(64);
  rStart = new Int32Array(64);
  rEnd = new Int32Array(64);
  rRaw: Array<string | undefined> = [];
  rNext = new Int32Array(64);
  nr = 0;
  /** Per stem, its records as a chain through `rNext`. */
  readonly rStamp: Uint32Array;
  readonly rHead: Int32Array;
  readonly rTail: Int32Array;
  /**
   * Prefix candidates, in token order: a word's first `qK` characters hash to `qH`, which some
   * prefix's hash may equal (its filter bit is set). They are checked only when a query asks for
   * a prefix (most papers are never asked about most of them); `qId` is the prefix id when it is
   * already known (text that went through `tokenize`), else -1. `qStart`/`qEnd` delimit the word
   * in the field's text (`qJoined`: a compound's joined form, whose hyphens do not count).
   */
  qH = new Int32Array(64);
  qK = new Int32Array(64);
  qStart = new Int32Array(64);
  qEnd = new Int32Array(64);
  qId = new Int32Array(64);
  qJoined = new Uint8Array(64);
  qRaw: Array<string | undefined> = [];
  nq = 0;
  /** Per prefix, for this paper once stamped: whether the field has it. */
  readonly preStamp: Uint32Array;
  readonly preHas: Uint8Array;
  /** The field's text as bytes when it is ASCII (else `ascii` is false and `qId` is always set). */
  bytes = new Uint8Array(1024);
  ascii = true;
  /** The field's text as the paper has it (author names joined), for raw words and regexes. */
  text: string | undefined;
  nfkcText: string | undefined;
  readonly seen: Uint32Array;
  readonly tf: Int32Array;
  /** Per stem, for this paper once stamped: its weighted BM25 term and its words as written. */
  readonly surfStamp: Uint32Array;
  readonly weight: Float64Array;
  readonly surf: string[][];
  /** Stems whose `surf` this paper set. */
  surfIds = new Int32Array(32);
  nSurf = 0;
  /** Per stem, the plain positions it occurs at, as a chain through `next` (phrases start there). */
  readonly chainStamp: Uint32Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  next = new Int32Array(512);

  constructor(stems: number, prefixes: number) {
    this.seen = new Uint32Array(stems);
    this.tf = new Int32Array(stems);
    this.preStamp = new Uint32Array(prefixes);
    this.preHas = new Uint8Array(prefixes);
    this.surfStamp = new Uint32Array(stems);
    this.weight = new Float64Array(stems);
    this.surf = new Array<string[]>(stems).fill(NO_WORDS);
    this.chainStamp = new Uint32Array(stems);
    this.rStamp = new Uint32Array(stems);
    this.rHead = new Int32Array(stems);
    this.rTail = new Int32Array(stems);
    this.head = new Int32Array(stems);
    this.tail = new Int32Array(stems);
  }

  reset(): void {
    // The last paper's words are let go: kept, they would survive young collections (and be
    // copied, then promoted) long after they are needed.
    for (let r = 0; r < this.nr; r++) this.rRaw[r] = undefined;
    for (let q = 0; q < this.nq; q++) this.qRaw[q] = undefined;
    for (let k = 0; k < this.nSurf; k++) this.surf[this.surfIds[k] as number] = NO_WORDS;
    this.nSurf = 0;
    this.len = 0;
    this.npos = 0;
    this.nj = 0;
    this.nr = 0;
    this.nq = 0;
    this.ascii = true;
    this.text = undefined;
    this.nfkcText = undefined;
  }

  pushPos(id: number, epoch: number): void {
    if (this.npos === this.pos.length) {
      this.pos = growInt(this.pos);
      this.next = growInt(this.next);
    }
    this.pos[this.npos] = id;
    if (id >= 0) this.link(id, this.npos, epoch);
    this.npos++;
  }

  /** Appends position `p` to the chain of stem `id`. */
  link(id: number, p: number, epoch: number): void {
    this.next[p] = -1;
    if (this.chainStamp[id] !== epoch) {
      this.chainStamp[id] = epoch;
      this.head[id] = p;
    } else this.next[this.tail[id] as number] = p;
    this.tail[id] = p;
  }

  pushRecord(stem: number, start: number, end: number, raw: string | undefined, epoch: number): number {
    if (this.nr === this.rStem.length) {
      this.rStem = growInt(this.rStem);
      this.rStart = growInt(this.rStart);
      this.rEnd = growInt(this.rEnd);
      this.rNext = growInt(this.rNext);
    }
    const r = this.nr++;
    this.rStem[r] = stem;
    this.rStart[r] = start;
    this.rEnd[r] = end;
    this.rRaw[r] = raw;
    if (stem >= 0) {
      // Chained per stem, so a stem's words as written are found without reading the others.
      this.rNext[r] = -1;
      if (this.rStamp[stem] !== epoch) {
        this.rStamp[stem] = epoch;
        this.rHead[stem] = r;
      } else this.rNext[this.rTail[stem] as number] = r;
      this.rTail[stem] = r;
    }
    return r;
  }

  /** Appends a prefix candidate; its end is set when the word ends ({@link endCandidates}). */
  pushCandidate(
    h: number,
    k: number,
    start: number,
    joined: number,
    id: number,
    raw: string | undefined,
  ): void {
    if (this.nq === this.qH.length) {
      this.qH = growInt(this.qH);
      this.qK = growInt(this.qK);
      this.qStart = growInt(this.qStart);
      this.qEnd = growInt(this.qEnd);
      this.qId = growInt(this.qId);
      const j = new Uint8Array(this.qJoined.length * 2);
      j.set(this.qJoined);
      this.qJoined = j;
    }
    const q = this.nq++;
    this.qH[q] = h;
    this.qK[q] = k;
    this.qStart[q] = start;
    this.qId[q] = id;
    this.qJoined[q] = joined;
    this.qRaw[q] = raw;
  }

  /** Sets the end of the candidates from `from` on (the word that just ended). */
  endCandidates(from: number, end: number): void {
    for (let q = from; q < this.nq; q++) this.qEnd[q] = end;
  }

  pushJoined(stem: number, end: number): void {
    if (this.nj === this.jStem.length) {
      this.jStem = growInt(this.jStem);
      this.jEnd = growInt(this.jEnd);
    }
    this.jStem[this.nj] = stem;
    this.jEnd[this.nj++] = end;
  }
}

/** Opcodes of the flat program (see `QueryProgram.emit`). */
const TERM = 1;
const PHRASE = 2;
const PREFIX = 3;
const REGEX = 4;
const CODE = 5;
const AND = 6;
const OR = 7;
const NOT = 8;

/** Field masks of the program: one bit per scanned field, in the interpreter's field order. */
const MASKS: Record<Field, number> = { text: 3, title: 1, abstract: 2, author: 4, category: 0, source: 0 };

/** A score being summed, and its distinct terms so far: `terms[0..n)` (a scratch array, reused). */
interface ScoreAcc {
  score: number;
  terms: string[];
  n: number;
}

/** A fresh hit's terms until it is scored. */
const NO_TERMS: string[] = [];

/** Adds `raw` to the accumulator's terms unless it is there. */
function addTerm(acc: ScoreAcc, raw: string): void {
  const terms = acc.terms;
  for (let k = 0; k < acc.n; k++) if (terms[k] === raw) return;
  terms[acc.n++] = raw;
}

/** A key a matching paper must have: the kind of index and the stem or prefix id, or a code. */
type Key =
  | { kind: 'text' | 'author' | 'textPrefix' | 'authorPrefix'; id: number }
  | { kind: 'category' | 'source'; code: string; prefix: boolean };

/** The raw word of a record not built yet: a compound's joined form (its hyphens go). */
const JOINED = '\u0000joined';

/**
 * Queries compiled over interned ids: {@link scan} a paper once, then {@link test} and
 * {@link score} any of the queries on it. The answers are those of {@link matchesQuery} and
 * {@link scoreMatch} on `analyzePaper(paper)`.
 */
export class QueryProgram {
  private readonly stemIds = new Map<string, number>();
  private readonly stemList: string[] = [];
  private readonly prefixIds = new Map<string, number>();
  private readonly prefixList: string[] = [];
  private readonly stems: CharTable;
  private readonly prefixes: CharTable;
  /** prefixLen[k] = 1 when some prefix has k characters. */
  private prefixLen = new Uint8Array(1);
  /** Bit k set when some prefix has k characters, for k < 32 (longer ones: all bits, see `scanAscii`). */
  private prefixLengthBits = 0;
  private prefixLens: number[] = [];
  private readonly fields: FieldScan[] = [];
  private readonly title: FieldScan;
  private readonly abstract: FieldScan;
  private readonly author: FieldScan;
  private epoch = 0;
  private paper: MatchablePaper | undefined;
  private categories: string[] = [];
  private readonly folded = new Map<string, string>();
  private sources: string[] = [];
  private paperFallback = false;
  private readonly acc: ScoreAcc = { score: 0, terms: [], n: 0 };
  /** Each phrase node's {@link phraseTerm}, by its offset in the program. */
  private readonly phraseTerms = new Map<number, string>();
  /** The score {@link scoreInto} computed last. */
  lastScore = 0;
  /** Hashes of the prefixes, by id. */
  private readonly prefixHashes: Int32Array;
  /** A compound's joined-form prefix candidates while its parts are scanned: hash and length. */
  private joinedH = new Int32Array(1);
  private joinedK = new Int32Array(1);
  /** Parts of the last compound scanned. */
  private compoundParts = 0;
  /** Ids present in title or abstract, and in author names, this paper (for candidate lookup). */
  textAny = new Uint32Array(0);
  textPresent = new Int32Array(256);
  nTextPresent = 0;
  authorPresent = new Int32Array(32);
  nAuthorPresent = 0;
  /** The queries as one flat program (see {@link emit}); `start[i]` is where query `i` begins. */
  private code = new Int32Array(1024);
  private codeLength = 0;
  private readonly start: Int32Array;
  /** Offsets in `code` of each query's positive leaves, in query order: `leafStart[i]` to `leafStart[i + 1]`. */
  private readonly leafStart: Int32Array;
  private readonly leafCode: Int32Array;
  /** Regexes and codes, which the program refers to by index. */
  private readonly regexes: RE2JS[] = [];
  private readonly codes: string[] = [];
  private readonly keys: Array<Key[] | undefined>;
  /** Without statistics every df is 0 (as in `scoreMatch`): one weight for every word. */
  private readonly defaultIdf = Math.log(1 + (DEFAULT_STATS.papers - 0 + 0.5) / (0 + 0.5));

  /** Compiles `queries`; `stats` weighs words as {@link scoreMatch} does (read when scoring). */
  constructor(
    readonly queries: readonly Query[],
    readonly stats?: CorpusStats,
  ) {
    for (const q of queries) this.intern(q);
    this.stems = new CharTable(this.stemList);
    this.prefixes = new CharTable(this.prefixList);
    const maxPrefix = this.prefixList.reduce((n, p) => Math.max(n, p.length), 0);
    this.prefixLen = new Uint8Array(maxPrefix + 1);
    for (const p of this.prefixList) this.prefixLen[p.length] = 1;
    for (const p of this.prefixList) this.prefixLengthBits |= p.length < 32 ? 1 << p.length : -1;
    this.prefixLens = [...new Set(this.prefixList.map((p) => p.length))].sort((a, b) => a - b);
    this.prefixHashes = Int32Array.from(this.prefixList, hashString);
    this.joinedH = new Int32Array(maxPrefix + 1);
    this.joinedK = new Int32Array(maxPrefix + 1);
    for (let f = 0; f < 3; f++) this.fields.push(new FieldScan(this.stemList.length, this.prefixList.length));
    [this.title, this.abstract, this.author] = this.fields as [FieldScan, FieldScan, FieldScan];
    this.textAny = new Uint32Array(this.stemList.length);
    this.start = new Int32Array(queries.length);
    this.leafStart = new Int32Array(queries.length + 1);
    for (const [i, q] of queries.entries()) {
      this.start[i] = this.codeLength;
      this.emit(q);
    }
    this.code = this.code.slice(0, this.codeLength);
    // Scoring walks the positive leaves; their offsets in the code are found by emitting again.
    const leaves: number[] = [];
    for (const [i, q] of queries.entries()) {
      this.leafStart[i] = leaves.length;
      const offsets = new Map<Query, number>();
      this.locate(q, this.start[i] as number, offsets);
      for (const leaf of positiveLeaves(q)) leaves.push(offsets.get(leaf) as number);
    }
    this.leafStart[queries.length] = leaves.length;
    this.leafCode = Int32Array.from(leaves);
    this.keys = queries.map((q) => this.requiredKeys(q));
  }

  /** Number of distinct stems the queries use. */
  get stemCount(): number {
    return this.stemList.length;
  }

  /** Number of distinct prefixes the queries use. */
  get prefixCount(): number {
    return this.prefixList.length;
  }

  /**
   * Whether the last scanned paper is outside what the program models (an author name of 1000
   * words or more, whose positions run into the next name's): callers use the interpreter then.
   */
  get fallback(): boolean {
    return this.paperFallback;
  }

  /** The current paper's epoch: an id array entry equal to it was set for this paper. */
  get stamp(): number {
    return this.epoch;
  }

  /** Keys one of which a paper matching query `i` must have, or `undefined` (it can match without). */
  keysOf(i: number): Key[] | undefined {
    return this.keys[i];
  }

  /** Whether query `i` matches the last scanned paper. */
  test(i: number): boolean {
    return this.evaluate(this.start[i] as number);
  }

  /** {@link scoreMatch} of query `i` on the last scanned paper. */
  score(i: number): { score: number; terms: string[] } {
    const terms = this.scoreInto(i);
    return { score: this.lastScore, terms };
  }

  /** The score of query `i`, left in {@link lastScore} (no object per hit); returns the terms. */
  scoreInto(i: number, into?: string[]): string[] {
    const acc = this.acc;
    acc.score = 0;
    acc.n = 0;
    const end = this.leafStart[i + 1] as number;
    for (let k = this.leafStart[i] as number; k < end; k++) this.scoreLeaf(acc, this.leafCode[k] as number);
    this.lastScore = Math.round(acc.score * 1000) / 1000;
    // Terms gather in a scratch array and leave as an exact copy: a hit's array grown by push
    // from empty reserved ~17 slots for its one to three words (the scoring code allocated
    // ~550 MB in a 100k-paper cycle that way, ~240 MB now; sampling heap profiler). A caller's
    // array (a reused hit's) is filled instead.
    if (into === undefined) return acc.terms.slice(0, acc.n);
    for (let k = 0; k < acc.n; k++) into[k] = acc.terms[k] as string;
    into.length = acc.n;
    return into;
  }

  /** Categories of the last scanned paper, folded. */
  get paperCategories(): readonly string[] {
    return this.categories;
  }

  /** Sources of the last scanned paper, folded. */
  get paperSources(): readonly string[] {
    return this.sources;
  }

  // ---- compiling ------------------------------------------------------------------------------

  private internStem(s: string): number {
    let id = this.stemIds.get(s);
    if (id === undefined) {
      id = this.stemList.length;
      this.stemList.push(s);
      this.stemIds.set(s, id);
    }
    return id;
  }

  private internPrefix(s: string): number {
    let id = this.prefixIds.get(s);
    if (id === undefined) {
      id = this.prefixList.length;
      this.prefixList.push(s);
      this.prefixIds.set(s, id);
    }
    return id;
  }

  private intern(q: Query): void {
    switch (q.type) {
      case 'and':
      case 'or':
        for (const c of q.children) this.intern(c);
        return;
      case 'not':
        this.intern(q.child);
        return;
      case 'term':
        this.internStem(q.word);
        return;
      case 'phrase':
        for (const w of q.words) this.internStem(w);
        return;
      case 'prefix':
        this.internPrefix(q.prefix);
        return;
      default:
        return;
    }
  }

  private push(v: number): void {
    if (this.codeLength === this.code.length) this.code = growInt(this.code);
    this.code[this.codeLength++] = v;
  }

  /**
   * Appends `q` to the program. A node is `[op, size, ...]`, `size` its length with its children
   * (so a short-circuit skips them): leaves carry a field mask (bit per field: title, abstract,
   * author) and ids; AND, OR and NOT carry their children. Flat integers keep a subscription's
   * whole test on a cache line or two, where closures would be scattered over the heap.
   */
  private emit(q: Query): void {
    const at = this.codeLength;
    switch (q.type) {
      case 'and':
      case 'or':
        this.push(q.type === 'and' ? AND : OR);
        this.push(0);
        for (const c of q.children) this.emit(c);
        break;
      case 'not':
        this.push(NOT);
        this.push(0);
        this.emit(q.child);
        break;
      case 'term':
        this.push(TERM);
        this.push(0);
        this.push(MASKS[q.field]);
        this.push(this.stemIds.get(q.word) as number);
        break;
      case 'phrase':
        this.push(PHRASE);
        this.push(0);
        this.push(MASKS[q.field]);
        this.push(q.words.length);
        for (const w of q.words) this.push(this.stemIds.get(w) as number);
        this.phraseTerms.set(at, phraseTerm(q.words));
        break;
      case 'prefix':
        this.push(PREFIX);
        this.push(0);
        this.push(MASKS[q.field]);
        this.push(this.prefixIds.get(q.prefix) as number);
        break;
      case 'regex':
        this.push(REGEX);
        this.push(0);
        this.push(MASKS[q.field]);
        this.push(this.regexes.length);
        this.regexes.push(q.re);
        break;
      case 'code':
        this.push(CODE);
        this.push(0);
        this.push(q.field === 'category' ? 1 : 0);
        this.push(q.prefix ? 1 : 0);
        this.push(this.codes.length);
        this.codes.push(q.code);
        break;
    }
    this.code[at + 1] = this.codeLength - at;
  }

  /** Where each node of `q` (emitted at `pc`) sits in the program. */
  private locate(q: Query, pc: number, out: Map<Query, number>): void {
    out.set(q, pc);
    if (q.type === 'and' || q.type === 'or') {
      let c = pc + 2;
      for (const child of q.children) {
        this.locate(child, c, out);
        c += this.code[c + 1] as number;
      }
    } else if (q.type === 'not') this.locate(q.child, pc + 2, out);
  }

  /** Whether stem `id` occurs in a field of `mask` of the scanned paper (`e`: its epoch). */
  private hasTerm(mask: number, id: number, e: number): boolean {
    return (
      ((mask & 1) !== 0 && this.title.seen[id] === e) ||
      ((mask & 2) !== 0 && this.abstract.seen[id] === e) ||
      ((mask & 4) !== 0 && this.author.seen[id] === e)
    );
  }

  /** Runs the node at `pc` on the scanned paper. */
  private evaluate(pc: number): boolean {
    const code = this.code;
    const e = this.epoch;
    switch (code[pc]) {
      case TERM: {
        const mask = code[pc + 2] as number;
        const id = code[pc + 3] as number;
        return (
          ((mask & 1) !== 0 && this.title.seen[id] === e) ||
          ((mask & 2) !== 0 && this.abstract.seen[id] === e) ||
          ((mask & 4) !== 0 && this.author.seen[id] === e)
        );
      }
      case AND: {
        // Term children, the usual ones, are tested here rather than by a call each.
        const end = pc + (code[pc + 1] as number);
        for (let c = pc + 2; c < end; c += code[c + 1] as number)
          if (
            !(code[c] === TERM
              ? this.hasTerm(code[c + 2] as number, code[c + 3] as number, e)
              : this.evaluate(c))
          )
            return false;
        return true;
      }
      case OR: {
        const end = pc + (code[pc + 1] as number);
        for (let c = pc + 2; c < end; c += code[c + 1] as number)
          if (
            code[c] === TERM
              ? this.hasTerm(code[c + 2] as number, code[c + 3] as number, e)
              : this.evaluate(c)
          )
            return true;
        return false;
      }
      case NOT:
        return !this.evaluate(pc + 2);
      case PHRASE: {
        const mask = code[pc + 2] as number;
        for (let f = 0; f < 3; f++)
          if (
            (mask & (1 << f)) !== 0 &&
            this.hasPhrase(this.fields[f] as FieldScan, pc + 4, code[pc + 3] as number)
          )
            return true;
        return false;
      }
      case PREFIX: {
        const mask = code[pc + 2] as number;
        const id = code[pc + 3] as number;
        return (
          ((mask & 1) !== 0 && this.hasPrefix(this.title, id)) ||
          ((mask & 2) !== 0 && this.hasPrefix(this.abstract, id)) ||
          ((mask & 4) !== 0 && this.hasPrefix(this.author, id))
        );
      }
      case REGEX: {
        const mask = code[pc + 2] as number;
        const re = this.regexes[code[pc + 3] as number] as RE2JS;
        for (let f = 0; f < 3; f++)
          if ((mask & (1 << f)) !== 0 && re.matcher(this.nfkcOf(f)).find()) return true;
        return false;
      }
      case CODE: {
        const values = code[pc + 2] === 1 ? this.categories : this.sources;
        const prefix = code[pc + 3] === 1;
        const wanted = this.codes[code[pc + 4] as number] as string;
        for (const v of values) if (prefix ? v.startsWith(wanted) : v === wanted) return true;
        return false;
      }
      default:
        return false;
    }
  }

  /**
   * The interpreter's phrase rule: a token with the first word's stem (a plain word or a
   * compound's joined form), then the plain words right after the last position it covers. A
   * joined form can only start a phrase: its parts come first in token order.
   */
  private hasPhrase(f: FieldScan, at: number, n: number): boolean {
    const e = this.epoch;
    const code = this.code;
    for (let w = 0; w < n; w++) if (f.seen[code[at + w] as number] !== e) return false;
    const first = code[at] as number;
    if (f.chainStamp[first] === e)
      for (let p = f.head[first] as number; p !== -1; p = f.next[p] as number)
        if (this.follows(f, p, at, n)) return true;
    for (let j = 0; j < f.nj; j++)
      if (f.jStem[j] === first && this.follows(f, f.jEnd[j] as number, at, n)) return true;
    return false;
  }

  /** Whether the plain words after position `end` are the phrase's (at `at` in the code) after its first. */
  private follows(f: FieldScan, end: number, at: number, n: number): boolean {
    if (end + n > f.npos) return false;
    for (let w = 1; w < n; w++) if (f.pos[end + w] !== this.code[at + w]) return false;
    return true;
  }

  /** Whether some word of the field starts with prefix `id` (checked once per paper and field). */
  private hasPrefix(fs: FieldScan, id: number): boolean {
    const e = this.epoch;
    if (fs.preStamp[id] === e) return fs.preHas[id] === 1;
    let has = 0;
    for (let q = 0; q < fs.nq; q++) {
      if (this.isPrefixAt(fs, q, id)) {
        has = 1;
        break;
      }
    }
    fs.preStamp[id] = e;
    fs.preHas[id] = has;
    return has === 1;
  }

  /** Whether prefix candidate `q` is prefix `id`: same length and hash, then the same characters. */
  private isPrefixAt(fs: FieldScan, q: number, id: number): boolean {
    const known = fs.qId[q] as number;
    if (known !== -1) return known === id;
    if (fs.qH[q] !== this.prefixHashes[id]) return false;
    const prefix = this.prefixList[id] as string;
    const k = fs.qK[q] as number;
    if (prefix.length !== k) return false;
    const b = fs.bytes;
    let at = fs.qStart[q] as number;
    const joined = fs.qJoined[q] === 1;
    for (let j = 0; j < k; j++, at++) {
      let c = b[at] as number;
      if (joined && c === 45) c = b[++at] as number;
      if (prefix.charCodeAt(j) !== (c | 32)) return false;
    }
    return true;
  }

  /** The prefix id of candidate `q`, or -1 when no prefix has its characters. */
  resolvePrefix(f: number, q: number): number {
    const fs = this.fields[f] as FieldScan;
    const known = fs.qId[q] as number;
    if (known !== -1) return known;
    const start = fs.qStart[q] as number;
    const k = fs.qK[q] as number;
    const h = fs.qH[q] as number;
    return fs.qJoined[q] === 1
      ? this.prefixes.findJoined(h, fs.bytes, start, k, -1)
      : this.prefixes.find(h, fs.bytes, start, k, -1);
  }

  /** Prefix candidates of field `f` this paper (see {@link resolvePrefix}). */
  candidateCount(f: number): number {
    return (this.fields[f] as FieldScan).nq;
  }

  /** The word (folded, as written) of prefix candidate `q`. */
  private rawOfCandidate(f: number, fs: FieldScan, q: number): string {
    let raw = fs.qRaw[q];
    if (raw === undefined) {
      const slice = this.textOf(f)
        .slice(fs.qStart[q] as number, fs.qEnd[q] as number)
        .toLowerCase();
      raw = fs.qJoined[q] === 1 ? slice.replaceAll('-', '') : slice;
      fs.qRaw[q] = raw;
    }
    return raw;
  }

  /** Adds what {@link scoreMatch} adds for the positive leaf at `pc`. */
  private scoreLeaf(acc: ScoreAcc, pc: number): void {
    const code = this.code;
    const mask = code[pc + 2] as number;
    switch (code[pc]) {
      case TERM:
        this.addStem(acc, code[pc + 3] as number, mask);
        return;
      case PHRASE: {
        const n = code[pc + 3] as number;
        let found = false;
        for (let f = 0; f < 3; f++)
          if ((mask & (1 << f)) !== 0 && this.hasPhrase(this.fields[f] as FieldScan, pc + 4, n)) found = true;
        if (!found) return;
        // Scored word by word, highlighted as the phrase (as the interpreter does).
        for (let w = 0; w < n; w++) this.addStem(acc, code[pc + 4 + w] as number, mask, false);
        addTerm(acc, this.phraseTerms.get(pc) as string);
        return;
      }
      case PREFIX: {
        const id = code[pc + 3] as number;
        for (let f = 0; f < 3; f++) {
          if ((mask & (1 << f)) === 0) continue;
          const fs = this.fields[f] as FieldScan;
          if (!this.hasPrefix(fs, id)) continue;
          const hits: string[] = [];
          for (let q = 0; q < fs.nq; q++) {
            if (!this.isPrefixAt(fs, q, id)) continue;
            const raw = this.rawOfCandidate(f, fs, q);
            if (!hits.includes(raw)) hits.push(raw);
          }
          acc.score += (f === TITLE ? TITLE_WEIGHT : 1) * bm25(hits.length, fs.len, 100, 1);
          for (const r of hits) addTerm(acc, r);
        }
        return;
      }
      case REGEX: {
        const re = this.regexes[code[pc + 3] as number] as RE2JS;
        for (let f = 0; f < 3; f++)
          if ((mask & (1 << f)) !== 0 && re.matcher(this.nfkcOf(f)).find())
            acc.score += f === TITLE ? TITLE_WEIGHT : 1;
        return;
      }
      case CODE:
        acc.score += 0.5;
        return;
    }
  }

  private addStem(acc: ScoreAcc, id: number, mask: number, withTerms = true): void {
    const e = this.epoch;
    for (let f = 0; f < 3; f++) {
      if ((mask & (1 << f)) === 0) continue;
      const fs = this.fields[f] as FieldScan;
      if (fs.seen[id] !== e) continue;
      if (fs.surfStamp[id] !== e) this.weigh(f, fs, id);
      acc.score += fs.weight[id] as number;
      if (!withTerms) continue;
      const surf = fs.surf[id] as string[];
      for (let j = 0; j < surf.length; j++) {
        const raw = surf[j] as string;
        addTerm(acc, raw);
      }
    }
  }

  /**
   * The weighted BM25 term of stem `id` in field `f` and its words as written (folded, distinct,
   * in text order), once per paper: many subscriptions share a word.
   */
  private weigh(f: number, fs: FieldScan, id: number): void {
    const stats = this.stats;
    let avg: number;
    let idf: number;
    if (stats === undefined) {
      avg = f === TITLE ? DEFAULT_STATS.avgTitle : DEFAULT_STATS.avgAbstract;
      idf = this.defaultIdf;
    } else {
      avg = f === TITLE ? stats.avgTitle : stats.avgAbstract;
      const df = stats.df(this.stemList[id] as string);
      idf = Math.log(1 + (stats.papers - df + 0.5) / (df + 0.5));
    }
    fs.weight[id] = (f === TITLE ? TITLE_WEIGHT : 1) * bm25(fs.tf[id] as number, fs.len, avg, idf);
    // A stem in `seen` has records: every occurrence of a used stem is recorded. A word written
    // like an earlier one (the usual case) is recognised by its bytes, without building it.
    // Most stems have one written form: an array of exactly it, not one grown by push from
    // empty (that reserved ~17 slots: ~200 MB of a 100k-paper cycle's garbage).
    const head = fs.rHead[id] as number;
    const out: string[] = head === -1 ? [] : [this.rawOf(f, head)];
    for (let r = head === -1 ? -1 : (fs.rNext[head] as number); r !== -1; r = fs.rNext[r] as number) {
      if (fs.ascii && fs.rRaw[r] === undefined && this.repeatsEarlier(fs, head, r)) continue;
      const raw = this.rawOf(f, r);
      if (!out.includes(raw)) out.push(raw);
    }
    fs.surfStamp[id] = this.epoch;
    fs.surf[id] = out;
    if (fs.nSurf === fs.surfIds.length) fs.surfIds = growInt(fs.surfIds);
    fs.surfIds[fs.nSurf++] = id;
  }

  /** Whether record `r`'s word (plain ASCII) is, folded, that of an earlier record of its chain. */
  private repeatsEarlier(fs: FieldScan, head: number, r: number): boolean {
    const b = fs.bytes;
    const start = fs.rStart[r] as number;
    const len = (fs.rEnd[r] as number) - start;
    for (let e = head; e !== r; e = fs.rNext[e] as number) {
      if (fs.rRaw[e] === JOINED) continue;
      const eStart = fs.rStart[e] as number;
      if ((fs.rEnd[e] as number) - eStart !== len) continue;
      let k = 0;
      while (k < len && ((b[eStart + k] as number) | 32) === ((b[start + k] as number) | 32)) k++;
      if (k === len) return true;
    }
    return false;
  }

  private textOf(f: number): string {
    const fs = this.fields[f] as FieldScan;
    if (fs.text === undefined) {
      const p = this.paper as MatchablePaper;
      fs.text = f === TITLE ? p.title : f === ABSTRACT ? p.abstract : p.authors.join(', ');
    }
    return fs.text;
  }

  private nfkcOf(f: number): string {
    const fs = this.fields[f] as FieldScan;
    if (fs.nfkcText === undefined) {
      const t = this.textOf(f);
      fs.nfkcText = NON_ASCII.test(t) ? t.normalize('NFKC') : t;
    }
    return fs.nfkcText;
  }

  private rawOf(f: number, r: number): string {
    const fs = this.fields[f] as FieldScan;
    let raw = fs.rRaw[r];
    if (raw === undefined || raw === JOINED) {
      // Only ASCII words are kept as offsets: lower-casing the slice is the folded word (a
      // compound's joined form without its hyphens).
      const slice = this.textOf(f)
        .slice(fs.rStart[r] as number, fs.rEnd[r] as number)
        .toLowerCase();
      raw = raw === JOINED ? slice.replaceAll('-', '') : slice;
      fs.rRaw[r] = raw;
    }
    return raw;
  }

  /**
   * Keys for query `i` chosen with `cost` (how many papers a key selects): an AND needs only its
   * cheapest child's keys. Any choice gives the same answers; a cheaper one, fewer evaluations.
   */
  keysWith(i: number, cost: (k: Key) => number): Key[] | undefined {
    return this.requiredKeys(this.queries[i] as Query, cost);
  }

  private requiredKeys(q: Query, cost: (k: Key) => number = estimateCost): Key[] | undefined {
    switch (q.type) {
      case 'term':
        return [{ kind: q.field === 'author' ? 'author' : 'text', id: this.stemIds.get(q.word) as number }];
      case 'phrase': {
        // Any word will do: the cheapest, and among equals the longest (usually the rarest).
        const kind = q.field === 'author' ? 'author' : 'text';
        let best: Key | undefined;
        let bestCost = Number.POSITIVE_INFINITY;
        let bestLength = -1;
        for (const w of q.words) {
          const key: Key = { kind, id: this.stemIds.get(w) as number };
          const c = cost(key);
          if (c < bestCost || (c === bestCost && w.length > bestLength)) {
            best = key;
            bestCost = c;
            bestLength = w.length;
          }
        }
        return [best as Key];
      }
      case 'prefix':
        return [
          {
            kind: q.field === 'author' ? 'authorPrefix' : 'textPrefix',
            id: this.prefixIds.get(q.prefix) as number,
          },
        ];
      case 'code':
        return [{ kind: q.field, code: q.code, prefix: q.prefix }];
      case 'regex':
      case 'not':
        return undefined;
      case 'or': {
        const all: Key[] = [];
        for (const c of q.children) {
          const k = this.requiredKeys(c, cost);
          if (k === undefined) return undefined;
          all.push(...k);
        }
        return all;
      }
      case 'and': {
        let best: Key[] | undefined;
        let bestCost = Number.POSITIVE_INFINITY;
        for (const c of q.children) {
          const k = this.requiredKeys(c, cost);
          if (k === undefined) continue;
          const total = k.reduce((n, key) => n + cost(key), 0);
          if (total < bestCost) {
            best = k;
            bestCost = total;
          }
        }
        return best;
      }
    }
  }

  // ---- scanning -------------------------------------------------------------------------------

  /**
   * Lets go of the last paper scanned: its text, words and codes. Kept until the next scan, they
   * would keep alive what the paper's strings were cut from — a feed document of ~7 MB — into
   * the next batch (measured in a heap snapshot of a cycle).
   */
  release(): void {
    for (const fs of this.fields) fs.reset();
    this.paper = undefined;
    this.categories.length = 0;
    this.sources.length = 0;
  }

  /**
   * Scans a paper: afterwards {@link test} and {@link score} answer for it. With `words` (the
   * search index's reading of this paper's title and abstract), those fields' plain words are
   * taken from there instead of read from the text again.
   */
  scan(p: MatchablePaper, words?: PaperWords): void {
    this.begin(p);
    this.scanField(TITLE, p.title, words?.title);
    this.scanField(ABSTRACT, p.abstract, words?.abstract);
    this.scanAuthors(p.authors);
    this.categories = this.foldCodes(p.categories, this.categories);
    this.sources = this.foldCodes(p.sources, this.sources);
  }

  /**
   * Puts `text` in the field's bytes; false when it is not ASCII (any other character takes
   * more than a byte, so the encoder writes more bytes than it reads characters, or stops).
   */
  private encode(fs: FieldScan, text: string): boolean {
    const n = text.length;
    if (fs.bytes.length < n) fs.bytes = new Uint8Array(Math.max(n, fs.bytes.length * 2));
    const done = ENCODER.encodeInto(text, fs.bytes);
    fs.ascii = done.read === n && done.written === n;
    return fs.ascii;
  }

  private scanField(f: number, text: string, words: FieldWords | undefined): void {
    const fs = this.fields[f] as FieldScan;
    fs.text = text;
    if (!this.encode(fs, text)) this.scanTokens(f, fs, text);
    else if (words?.text === text && words.codec) this.scanWords(f, fs, words, words.codec);
    else this.scanAscii(f, fs, 0, text.length);
  }

  /**
   * Per word id of the codec that {@link scanWords} was last given words of: what
   * {@link scanAscii} works out for that word, worked out once. `wordStem` is the stem id + 2
   * (0: not known yet); the word's prefix candidates are `wordCandN` (hash, length) pairs from
   * `wordCandAt` in `candH` and `candK`.
   */
  private wordCodec: TextCodec | undefined;
  private wordStem = new Int32Array(0);
  private wordCandAt = new Int32Array(0);
  private wordCandN = new Int32Array(0);
  private candH = new Int32Array(256);
  private candK = new Int32Array(256);
  private nCand = 0;

  /** Room for the words of `codec` in the per-word columns (emptied for another codec). */
  private roomForWords(codec: TextCodec): void {
    const size = codec.words.length;
    if (this.wordCodec !== codec) {
      this.wordCodec = codec;
      const room = Math.max(size, 1024);
      this.wordStem = new Int32Array(room);
      this.wordCandAt = new Int32Array(room);
      this.wordCandN = new Int32Array(room);
      this.nCand = 0;
    } else if (size > this.wordStem.length) {
      const room = Math.max(size, 2 * this.wordStem.length);
      const grow = (a: Int32Array) => {
        const next = new Int32Array(room);
        next.set(a);
        return next;
      };
      this.wordStem = grow(this.wordStem);
      this.wordCandAt = grow(this.wordCandAt);
      this.wordCandN = grow(this.wordCandN);
    }
  }

  /**
   * Works out word `sid` (the field's bytes from `start` to `end`) as {@link scanAscii} does:
   * its prefix candidates and its stem id; returns the stem id + 2.
   */
  private learnWord(sid: number, b: Uint8Array, start: number, end: number): number {
    const prefixLen = this.prefixLen;
    const maxPrefix = prefixLen.length - 1;
    const lengths = this.prefixLengthBits;
    const prefixFilter = this.prefixes.filter;
    const from = this.nCand;
    let h = FNV_BASIS;
    let len = 0;
    for (let i = start; i < end; i++) {
      h = Math.imul(h ^ ((b[i] as number) | 32), FNV_PRIME);
      len++;
      // Once per word of the codec: the filter test need not be inlined here.
      if (
        ((lengths >>> len) & 1) !== 0 &&
        len <= maxPrefix &&
        prefixLen[len] === 1 &&
        hasFilterBit(prefixFilter, h)
      ) {
        if (this.nCand === this.candH.length) {
          this.candH = growInt(this.candH);
          this.candK = growInt(this.candK);
        }
        this.candH[this.nCand] = h;
        this.candK[this.nCand++] = len;
      }
    }
    const e = this.stemAt(b, start, end, len, h) + 2;
    this.wordStem[sid] = e;
    this.wordCandAt[sid] = from;
    this.wordCandN[sid] = this.nCand - from;
    return e;
  }

  /**
   * {@link scanAscii} over a field whose words the search index found ({@link FieldWords}): the
   * same positions, records and candidates, each word's looked up by its id instead of being
   * read and hashed. Hyphen compounds are scanned from the bytes, as there. Returns the plain
   * words.
   */
  private scanWords(f: number, fs: FieldScan, w: FieldWords, codec: TextCodec): number {
    this.roomForWords(codec);
    const b = fs.bytes;
    const n = (fs.text as string).length;
    const { ids, starts, ends, hyphenAfter } = w.pool;
    const last = w.from + w.count;
    const wordStem = this.wordStem;
    const epoch = this.epoch;
    let plain = 0;
    for (let k = w.from; k < last; k++) {
      const start = starts[k] as number;
      if (hyphenAfter[k] === 1) {
        const end = this.scanCompoundAscii(f, fs, start, n);
        plain += this.compoundParts;
        // Its parts were the words up to its end.
        while (k + 1 < last && (starts[k + 1] as number) < end) k++;
        continue;
      }
      const sid = ids[k] as number;
      const end = ends[k] as number;
      let e = wordStem[sid] as number;
      if (e === 0) e = this.learnWord(sid, b, start, end);
      const nc = this.wordCandN[sid] as number;
      if (nc > 0) {
        const firstCandidate = fs.nq;
        const at = this.wordCandAt[sid] as number;
        for (let c = at; c < at + nc; c++)
          fs.pushCandidate(this.candH[c] as number, this.candK[c] as number, start, 0, -1, undefined);
        fs.endCandidates(firstCandidate, end);
      }
      const id = e - 2;
      fs.len++;
      plain++;
      fs.pushPos(id, epoch);
      if (id >= 0) this.commitStem(f, fs, id, start, end, undefined);
    }
    return plain;
  }

  /**
   * The stem id (-1: no query uses it) of the ASCII word of `len` bytes of `b` from `start` to
   * `end`, whose folded characters hash to `h`.
   */
  private stemAt(b: Uint8Array, start: number, end: number, len: number, h: number): number {
    const stems = this.stems;
    // The filter is checked here, not only in `find`: most words stop at it, without a call.
    const stemFilter = stems.filter;
    const c1 = (b[end - 1] as number) | 32;
    if (c1 !== 115 || len < 2) {
      const top = h >>> 16;
      return (((stemFilter[top >>> 5] as number) >>> (top & 31)) & 1) !== 0
        ? stems.find(h, b, start, len, -1)
        : -1;
    }
    // Ends in s: undo the last characters' hash steps to get the shorter prefixes' hashes.
    const c2 = (b[end - 2] as number) | 32;
    const c3 = len > 2 ? (b[end - 3] as number) | 32 : 0;
    const c4 = len > 3 ? (b[end - 4] as number) | 32 : 0;
    const h1 = Math.imul(h, FNV_INVERSE) ^ c1;
    const h3 = len > 2 ? Math.imul(Math.imul(h1, FNV_INVERSE) ^ c2, FNV_INVERSE) ^ c3 : 0;
    hashStem(h, h1, h3, len, c1, c2, c3, c4);
    return hasFilterBit(stemFilter, stemH) ? stems.find(stemH, b, start, stemL, stemT) : -1;
  }

  /** Folded codes in `into` (reused from paper to paper); the few distinct codes are folded once. */
  private foldCodes(codes: readonly string[], into: string[]): string[] {
    into.length = 0;
    for (const c of codes) {
      let folded = this.folded.get(c);
      if (folded === undefined) {
        if (this.folded.size > 10_000) this.folded.clear();
        // Copies: a code cut from a feed document would keep the document alive in this cache.
        folded = detachText(foldText(c));
        this.folded.set(detachText(c), folded);
      }
      into.push(folded);
    }
    return into;
  }

  private begin(p: MatchablePaper): void {
    this.epoch++;
    if (this.epoch === 0xffffffff) {
      for (const f of this.fields) {
        f.seen.fill(0);
        f.preStamp.fill(0);
        f.surfStamp.fill(0);
        f.chainStamp.fill(0);
        f.rStamp.fill(0);
      }
      this.textAny.fill(0);
      this.epoch = 1;
    }
    this.paper = p;
    this.paperFallback = false;
    for (const f of this.fields) f.reset();
    this.nTextPresent = 0;
    this.nAuthorPresent = 0;
  }

  /**
   * Author names one by one, a position apart (`-2`), so a phrase stays inside a name. ASCII
   * names are scanned in their joined text, which is the field's text for raw words and regexes.
   */
  private scanAuthors(authors: readonly string[]): void {
    const fs = this.fields[AUTHOR] as FieldScan;
    const joined = authors.length === 1 ? (authors[0] as string) : authors.join(', ');
    fs.text = joined;
    const ascii = this.encode(fs, joined);
    let offset = 0;
    for (let i = 0; i < authors.length; i++) {
      const a = authors[i] as string;
      if (i > 0) fs.pushPos(-2, this.epoch);
      const plain = ascii
        ? this.scanAscii(AUTHOR, fs, offset, offset + a.length)
        : this.scanTokens(AUTHOR, fs, a);
      // Positions of a name of AUTHOR_GAP words or more reach the next name's.
      if (plain >= AUTHOR_GAP) this.paperFallback = true;
      offset += a.length + 2;
    }
  }

  /** Marks stem `id` present in field `f` (one more occurrence). */
  private addOccurrence(f: number, fs: FieldScan, id: number): void {
    const e = this.epoch;
    if (fs.seen[id] !== e) {
      fs.seen[id] = e;
      fs.tf[id] = 1;
      if (f === AUTHOR) {
        if (this.nAuthorPresent === this.authorPresent.length)
          this.authorPresent = growInt(this.authorPresent);
        this.authorPresent[this.nAuthorPresent++] = id;
      } else if (this.textAny[id] !== e) {
        this.textAny[id] = e;
        if (this.nTextPresent === this.textPresent.length) this.textPresent = growInt(this.textPresent);
        this.textPresent[this.nTextPresent++] = id;
      }
    } else fs.tf[id] = (fs.tf[id] as number) + 1;
  }

  /**
   * One token from {@link tokenize} (non-ASCII text): `raw` folded, `plain` for a word (not a
   * compound's joined form), `end` its last position. Prefixes are looked up here and now.
   */
  private addToken(
    fs: FieldScan,
    f: number,
    raw: string,
    stemmed: string,
    plain: boolean,
    end: number,
  ): void {
    fs.len++;
    const id = this.stemIds.get(stemmed) ?? -1;
    if (plain) fs.pushPos(id, this.epoch);
    else if (id >= 0) fs.pushJoined(id, end);
    if (id >= 0) {
      fs.pushRecord(id, 0, 0, raw, this.epoch);
      this.addOccurrence(f, fs, id);
    }
    for (const k of this.prefixLens) {
      if (k > raw.length) break;
      const pid = this.prefixIds.get(k === raw.length ? raw : raw.slice(0, k));
      if (pid !== undefined) fs.pushCandidate(0, k, 0, 0, pid, raw);
    }
  }

  /** Tokens through {@link tokenize} (exact NFKC and Unicode rules); returns the plain words. */
  private scanTokens(f: number, fs: FieldScan, text: string): number {
    const base = fs.npos;
    let plain = 0;
    for (const t of tokenize(text)) {
      const isPlain = t.start === t.end;
      if (isPlain) plain++;
      this.addToken(fs, f, t.raw, t.stem, isPlain, base + t.end);
    }
    return plain;
  }

  /** Records an ASCII token whose stem a query uses. */
  private commitStem(
    f: number,
    fs: FieldScan,
    id: number,
    start: number,
    end: number,
    raw: string | undefined,
  ): void {
    fs.pushRecord(id, start, end, raw, this.epoch);
    this.addOccurrence(f, fs, id);
  }

  /**
   * A hyphen compound of ASCII words from `start`: its parts, then the joined form spanning them
   * (hashed with the hyphens skipped). Returns where it ends; {@link compoundParts} is set.
   */
  private scanCompoundAscii(f: number, fs: FieldScan, start: number, n: number): number {
    const b = fs.bytes;
    const stems = this.stems;
    const prefixLen = this.prefixLen;
    const prefixFilter = this.prefixes.filter;
    const maxPrefix = prefixLen.length - 1;
    const joinedH = this.joinedH;
    const joinedK = this.joinedK;
    const first = fs.npos;
    let nj = 0;
    let jh = FNV_BASIS;
    let jh1 = 0;
    let jh2 = 0;
    let jh3 = 0;
    let jc1 = 0;
    let jc2 = 0;
    let jc3 = 0;
    let jc4 = 0;
    let jlen = 0;
    let parts = 0;
    let i = start;
    for (;;) {
      const partStart = i;
      const firstCandidate = fs.nq;
      let h = FNV_BASIS;
      let h1 = 0;
      let h2 = 0;
      let h3 = 0;
      let c1 = 0;
      let c2 = 0;
      let c3 = 0;
      let c4 = 0;
      let len = 0;
      for (; i < n; i++) {
        let c = b[i] as number;
        if (ALNUM[c] === 0) break;
        c |= 32;
        h3 = h2;
        h2 = h1;
        h1 = h;
        h = Math.imul(h ^ c, FNV_PRIME);
        c4 = c3;
        c3 = c2;
        c2 = c1;
        c1 = c;
        len++;
        jh3 = jh2;
        jh2 = jh1;
        jh1 = jh;
        jh = Math.imul(jh ^ c, FNV_PRIME);
        jc4 = jc3;
        jc3 = jc2;
        jc2 = jc1;
        jc1 = c;
        jlen++;
        if (len <= maxPrefix && prefixLen[len] === 1 && hasFilterBit(prefixFilter, h))
          fs.pushCandidate(h, len, partStart, 0, -1, undefined);
        if (jlen <= maxPrefix && prefixLen[jlen] === 1 && hasFilterBit(prefixFilter, jh)) {
          joinedH[nj] = jh;
          joinedK[nj++] = jlen;
        }
      }
      fs.endCandidates(firstCandidate, i);
      hashStem(h, h1, h3, len, c1, c2, c3, c4);
      const id = stems.find(stemH, b, partStart, stemL, stemT);
      fs.len++;
      fs.pushPos(id, this.epoch);
      if (id >= 0) this.commitStem(f, fs, id, partStart, i, undefined);
      parts++;
      if (i + 1 < n && b[i] === 45 && ALNUM[b[i + 1] as number] === 1) {
        i++;
        continue;
      }
      break;
    }
    hashStem(jh, jh1, jh3, jlen, jc1, jc2, jc3, jc4);
    const id = stems.findJoined(stemH, b, start, stemL, stemT);
    fs.len++;
    if (id >= 0) {
      fs.pushJoined(id, first + parts - 1);
      this.commitStem(f, fs, id, start, i, JOINED);
    }
    // The joined form's candidates come after its parts', as the tokens do.
    const firstCandidate = fs.nq;
    for (let k = 0; k < nj; k++)
      fs.pushCandidate(joinedH[k] as number, joinedK[k] as number, start, 1, -1, undefined);
    fs.endCandidates(firstCandidate, i);
    this.compoundParts = parts;
    return i;
  }

  /**
   * The ASCII fast path over the field's bytes from `from` to `to`: words are runs of letters
   * and digits, folded by `| 32` and hashed as they are read; returns the plain words.
   */
  private scanAscii(f: number, fs: FieldScan, from: number, to: number): number {
    const b = fs.bytes;
    const prefixLen = this.prefixLen;
    const maxPrefix = prefixLen.length - 1;
    // Lengths some prefix has, as bits: tested in a register for every character.
    const lengths = this.prefixLengthBits;
    // The prefix filter is checked here, not only in `find`: most words stop at it, without a call.
    const prefixFilter = this.prefixes.filter;
    const epoch = this.epoch;
    // Positions and the token count live in locals for the loop (written back before calls).
    let pos = fs.pos;
    let npos = fs.npos;
    let tokens = fs.len;
    let plain = 0;
    let i = from;
    while (i < to) {
      let c = b[i] as number;
      if (ALNUM[c] === 0) {
        i++;
        continue;
      }
      // Per character only the hash and the prefix filter: the stem's hash is derived at the end.
      const start = i;
      const firstCandidate = fs.nq;
      let h = FNV_BASIS;
      let len = 0;
      for (;;) {
        h = Math.imul(h ^ (c | 32), FNV_PRIME);
        len++;
        if (((lengths >>> len) & 1) !== 0 && len <= maxPrefix && prefixLen[len] === 1) {
          const top = h >>> 16;
          if ((((prefixFilter[top >>> 5] as number) >>> (top & 31)) & 1) !== 0)
            fs.pushCandidate(h, len, start, 0, -1, undefined);
        }
        if (++i >= to) break;
        c = b[i] as number;
        if (ALNUM[c] === 0) break;
      }
      if (c === 45 && i + 1 < to && ALNUM[b[i + 1] as number] === 1) {
        // A compound: scanned again from its start, parts and joined form together.
        fs.nq = firstCandidate;
        fs.npos = npos;
        fs.len = tokens;
        i = this.scanCompoundAscii(f, fs, start, to);
        pos = fs.pos;
        npos = fs.npos;
        tokens = fs.len;
        plain += this.compoundParts;
        continue;
      }
      if (fs.nq !== firstCandidate) fs.endCandidates(firstCandidate, i);
      const id = this.stemAt(b, start, i, len, h);
      tokens++;
      plain++;
      if (npos === pos.length) {
        fs.npos = npos;
        fs.pos = growInt(pos);
        fs.next = growInt(fs.next);
        pos = fs.pos;
      }
      pos[npos] = id;
      if (id >= 0) {
        fs.link(id, npos, epoch);
        this.commitStem(f, fs, id, start, i, undefined);
      }
      npos++;
    }
    fs.npos = npos;
    fs.len = tokens;
    return plain;
  }
}

/** Whether `h`'s bit is set in a {@link CharTable} filter. */
function hasFilterBit(filter: Int32Array, h: number): boolean {
  const top = h >>> 16;
  return (((filter[top >>> 5] as number) >>> (top & 31)) & 1) !== 0;
}

/** The stem of the last word scanned: its hash, length and the character added ('y') or -1. */
let stemH = 0;
let stemL = 0;
let stemT = -1;

/**
 * Harman's S-stemmer (see `stem`) on a word given by its hash `h`, the hashes of its first
 * `len - 1` and `len - 3` characters and its last four characters: sets {@link stemH},
 * {@link stemL} and {@link stemT} without building the stem.
 */
function hashStem(
  h: number,
  h1: number,
  h3: number,
  len: number,
  c1: number,
  c2: number,
  c3: number,
  c4: number,
): void {
  stemH = h;
  stemL = len;
  stemT = -1;
  if (len < 2 || c1 !== 115) return;
  if ((len === 2 && c2 === 101) || (len === 3 && c2 === 101 && c3 === 105)) return;
  if (len > 3 && c2 === 101 && c3 === 105 && c4 !== 101 && c4 !== 97) {
    stemH = Math.imul(h3 ^ 121, FNV_PRIME);
    stemL = len - 3;
    stemT = 121;
  } else if ((len > 2 && c2 === 101 && c3 !== 97 && c3 !== 101 && c3 !== 111) || (c2 !== 117 && c2 !== 115)) {
    stemH = h1;
    stemL = len - 1;
  }
}

/** Which subscriptions each key selects (see {@link fileSubscriptions}). */
interface SubscriptionIndex {
  textOffsets: Int32Array;
  textFlat: Int32Array;
  authorOffsets: Int32Array;
  authorFlat: Int32Array;
  textPrefixOffsets: Int32Array;
  textPrefixFlat: Int32Array;
  authorPrefixOffsets: Int32Array;
  authorPrefixFlat: Int32Array;
  categoryExact: Map<string, number[]>;
  categoryPrefix: Map<string, number[]>;
  sourceExact: Map<string, number[]>;
  sourcePrefix: Map<string, number[]>;
  /** Subscriptions that can match without any key (negations, regexes): evaluated for every paper. */
  always: number[];
}

/** Files subscription `i` under each key `keysOf(i)` gives; lists by id become flat arrays. */
function fileSubscriptions(
  program: QueryProgram,
  count: number,
  keysOf: (i: number) => Key[] | undefined,
): SubscriptionIndex {
  const textSubs: Array<number[] | undefined> = new Array(program.stemCount);
  const authorSubs: Array<number[] | undefined> = new Array(program.stemCount);
  const textPrefixSubs: Array<number[] | undefined> = new Array(program.prefixCount);
  const authorPrefixSubs: Array<number[] | undefined> = new Array(program.prefixCount);
  const categoryExact = new Map<string, number[]>();
  const categoryPrefix = new Map<string, number[]>();
  const sourceExact = new Map<string, number[]>();
  const sourcePrefix = new Map<string, number[]>();
  const always: number[] = [];
  const file = (lists: Array<number[] | undefined>, id: number, i: number) => {
    const l = lists[id];
    if (l === undefined) lists[id] = [i];
    else if (l[l.length - 1] !== i) l.push(i);
  };
  const fileCode = (m: Map<string, number[]>, code: string, i: number) => {
    const l = m.get(code);
    if (l === undefined) m.set(code, [i]);
    else if (l[l.length - 1] !== i) l.push(i);
  };
  for (let i = 0; i < count; i++) {
    const keys = keysOf(i);
    if (keys === undefined) {
      always.push(i);
      continue;
    }
    for (const k of keys) {
      if (k.kind === 'text') file(textSubs, k.id, i);
      else if (k.kind === 'author') file(authorSubs, k.id, i);
      else if (k.kind === 'textPrefix') file(textPrefixSubs, k.id, i);
      else if (k.kind === 'authorPrefix') file(authorPrefixSubs, k.id, i);
      else if (k.kind === 'category') fileCode(k.prefix ? categoryPrefix : categoryExact, k.code, i);
      else if (k.kind === 'source') fileCode(k.prefix ? sourcePrefix : sourceExact, k.code, i);
    }
  }
  // Offsets into one flat array per kind: a paper's lookups read contiguous memory.
  const [textOffsets, textFlat] = flatten(textSubs);
  const [authorOffsets, authorFlat] = flatten(authorSubs);
  const [textPrefixOffsets, textPrefixFlat] = flatten(textPrefixSubs);
  const [authorPrefixOffsets, authorPrefixFlat] = flatten(authorPrefixSubs);
  return {
    textOffsets,
    textFlat,
    authorOffsets,
    authorFlat,
    textPrefixOffsets,
    textPrefixFlat,
    authorPrefixOffsets,
    authorPrefixFlat,
    categoryExact,
    categoryPrefix,
    sourceExact,
    sourcePrefix,
    always,
  };
}

/** Lists by id as `[offsets, values]`: list `id` is `values[offsets[id]]` to `values[offsets[id + 1]]`. */
function flatten(lists: ReadonlyArray<number[] | undefined>): [Int32Array, Int32Array] {
  const offsets = new Int32Array(lists.length + 1);
  let total = 0;
  for (let id = 0; id < lists.length; id++) {
    offsets[id] = total;
    total += lists[id]?.length ?? 0;
  }
  offsets[lists.length] = total;
  const values = new Int32Array(total);
  for (let id = 0; id < lists.length; id++) values.set(lists[id] ?? [], offsets[id] as number);
  return [offsets, values];
}

/** How many papers a key is likely to select, roughly: a rare word, a prefix, a category. */
function estimateCost(k: Key): number {
  switch (k.kind) {
    case 'text':
    case 'author':
      return 1;
    case 'textPrefix':
    case 'authorPrefix':
      return 50;
    default:
      return k.prefix ? 5000 : 2000;
  }
}

/**
 * Compiles subscriptions into a {@link QueryProgram} and an index from the stems, prefixes and
 * codes they need to the subscriptions, so a paper evaluates only the subscriptions its words can
 * satisfy (plus those that can match without any). Answers and scores are exactly those of
 * {@link matchesQuery} and {@link scoreMatch}; hits are ordered by score, then by subscription id
 * (`localeCompare`). After `retuneAfter` papers (2000) the keys are chosen again with the
 * document frequencies of the words seen so far: the answers stay the same, fewer subscriptions
 * are evaluated in vain.
 */
export function compileMatcher(
  subs: ReadonlyArray<{ id: string; query: Query }>,
  opts: { stats?: CorpusStats; retuneAfter?: number } = {},
): Matcher {
  const stats = opts.stats;
  const program = new QueryProgram(
    subs.map((s) => s.query),
    stats,
  );
  let index = fileSubscriptions(program, subs.length, (i) => program.keysOf(i));
  // Ties in score are ordered by id as localeCompare orders them; ranked once here.
  const order = subs
    .map((_, i) => i)
    .sort((a, b) => (subs[a] as { id: string }).id.localeCompare((subs[b] as { id: string }).id));
  const rank = new Int32Array(subs.length);
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number;
    const prev = order[k - 1];
    rank[i] =
      prev !== undefined &&
      (subs[prev] as { id: string }).id.localeCompare((subs[i] as { id: string }).id) === 0
        ? (rank[prev] as number)
        : k;
  }
  const ids = subs.map((s) => s.id);
  // Papers' words are counted until the keys are chosen again with these document frequencies
  // (an AND filed under its rarest word is evaluated for far fewer papers).
  const retuneAfter = opts.retuneAfter ?? 2000;
  const df = new Uint32Array(program.stemCount);
  const authorDf = new Uint32Array(program.stemCount);
  let counted = 0;
  const retune = () => {
    // Prefixes and codes select many papers; unknown, they cost as if in every paper, or more.
    const scale = Math.max(counted, 1);
    const cost = (k: Key) =>
      k.kind === 'text'
        ? (df[k.id] as number)
        : k.kind === 'author'
          ? (authorDf[k.id] as number)
          : estimateCost(k) * scale;
    index = fileSubscriptions(program, subs.length, (i) => program.keysWith(i, cost));
  };
  const seen = new Uint32Array(subs.length);
  let hitRank = new Int32Array(64);
  /** Per hit, its subscription's index in `subs`, sorted along with the hits. */
  let hitPos = new Int32Array(64);
  /** Indexes by id, for the hits of the interpreter (made at its first paper). */
  let positionOf: Map<string, number> | undefined;
  let candidates = new Int32Array(256);
  let n = 0;
  let stamp = 0;
  const collect = (list: number[] | undefined) => {
    if (list === undefined) return;
    for (const i of list) {
      if (seen[i] === stamp) continue;
      seen[i] = stamp;
      if (n === candidates.length) candidates = growInt(candidates);
      candidates[n++] = i;
    }
  };
  const collectFlat = (offsets: Int32Array, flat: Int32Array, id: number) => {
    const end = offsets[id + 1] as number;
    for (let k = offsets[id] as number; k < end; k++) {
      const i = flat[k] as number;
      if (seen[i] === stamp) continue;
      seen[i] = stamp;
      if (n === candidates.length) candidates = growInt(candidates);
      candidates[n++] = i;
    }
  };
  const collectCodes = (
    values: readonly string[],
    exact: Map<string, number[]>,
    prefix: Map<string, number[]>,
  ) => {
    for (const v of values) {
      if (exact.size > 0) collect(exact.get(v));
      if (prefix.size > 0) for (const [code, list] of prefix) if (v.startsWith(code)) collect(list);
    }
  };
  const interpret = (doc: AnalyzedPaper): MatchHit[] => {
    const hits: MatchHit[] = [];
    for (const s of subs) {
      if (!matchesQuery(s.query, doc)) continue;
      const { score, terms } = scoreMatch(s.query, doc, stats);
      hits.push({ subscriptionId: s.id, score, terms });
    }
    return hits.sort((a, b) => b.score - a.score || a.subscriptionId.localeCompare(b.subscriptionId));
  };
  // Hits as reused objects (see `Matcher.matchReused`): the first `n` of `pool`, best first.
  const pool: MatchHit[] = [];
  const reused: { hits: readonly MatchHit[]; n: number; positions: Int32Array } = {
    hits: pool,
    n: 0,
    positions: hitPos,
  };
  /**
   * The paper's hits into `hits`, best first; returns how many. With `reuse`, the objects (and
   * term arrays) already in `hits` are filled again: `hits` is the pool.
   */
  const run = (doc: AnalyzedPaper, hits: MatchHit[], reuse: boolean, words?: PaperWords): number => {
    program.scan(doc.source, words);
    if (program.fallback) {
      const found = interpret(doc);
      if (found.length > hitPos.length) hitPos = new Int32Array(Math.max(found.length, 2 * hitPos.length));
      positionOf ??= new Map(ids.map((id, i) => [id, i]));
      for (let k = 0; k < found.length; k++) {
        const hit = found[k] as MatchHit;
        hits[k] = hit;
        hitPos[k] = positionOf.get(hit.subscriptionId) as number;
      }
      return found.length;
    }
    // The program's epoch starts again from 1 after 2^32 papers: so do the marks.
    if (program.stamp < stamp) seen.fill(0);
    stamp = program.stamp;
    n = 0;
    const p = program;
    if (counted < retuneAfter) {
      for (let k = 0; k < p.nTextPresent; k++) {
        const id = p.textPresent[k] as number;
        df[id] = (df[id] as number) + 1;
      }
      for (let k = 0; k < p.nAuthorPresent; k++) {
        const id = p.authorPresent[k] as number;
        authorDf[id] = (authorDf[id] as number) + 1;
      }
      if (++counted === retuneAfter) retune();
    }
    const x = index;
    for (let k = 0; k < p.nTextPresent; k++)
      collectFlat(x.textOffsets, x.textFlat, p.textPresent[k] as number);
    for (let k = 0; k < p.nAuthorPresent; k++)
      collectFlat(x.authorOffsets, x.authorFlat, p.authorPresent[k] as number);
    // Prefix candidates are checked against the table only when some subscription is filed
    // under a prefix: most of them are never asked about.
    if (x.textPrefixFlat.length > 0)
      for (let f = 0; f < 2; f++)
        for (let q = p.candidateCount(f) - 1; q >= 0; q--) {
          const pid = p.resolvePrefix(f, q);
          if (pid >= 0) collectFlat(x.textPrefixOffsets, x.textPrefixFlat, pid);
        }
    if (x.authorPrefixFlat.length > 0)
      for (let q = p.candidateCount(2) - 1; q >= 0; q--) {
        const pid = p.resolvePrefix(2, q);
        if (pid >= 0) collectFlat(x.authorPrefixOffsets, x.authorPrefixFlat, pid);
      }
    collectCodes(p.paperCategories, x.categoryExact, x.categoryPrefix);
    collectCodes(p.paperSources, x.sourceExact, x.sourcePrefix);
    collect(x.always);
    let count = 0;
    for (let k = 0; k < n; k++) {
      const i = candidates[k] as number;
      if (!p.test(i)) continue;
      // Reused: the spare object after this paper's hits so far, filled in place.
      let hit = reuse ? hits[count] : undefined;
      if (hit === undefined) {
        hit = { subscriptionId: '', score: 0, terms: reuse ? [] : NO_TERMS };
        if (reuse) hits[count] = hit;
      }
      hit.subscriptionId = ids[i] as string;
      hit.terms = reuse ? p.scoreInto(i, hit.terms) : p.scoreInto(i);
      hit.score = p.lastScore;
      // Insertion sort as hits arrive: a paper has a few dozen.
      let at = count;
      const r = rank[i] as number;
      if (at === hitRank.length) {
        hitRank = growInt(hitRank);
        hitPos = growInt(hitPos);
      }
      while (at > 0) {
        const prev = hits[at - 1] as MatchHit;
        if (prev.score > hit.score || (prev.score === hit.score && (hitRank[at - 1] as number) <= r)) break;
        hits[at] = prev;
        hitRank[at] = hitRank[at - 1] as number;
        hitPos[at] = hitPos[at - 1] as number;
        at--;
      }
      hits[at] = hit;
      hitRank[at] = r;
      hitPos[at] = i;
      count++;
    }
    return count;
  };
  return {
    size: subs.length,
    ids,
    match(doc) {
      const hits: MatchHit[] = [];
      run(doc, hits, false);
      return hits;
    },
    matchReused(doc, words) {
      reused.n = run(doc, pool, true, words);
      // The positions' array may have grown for this paper.
      reused.positions = hitPos;
      return reused;
    },
    release() {
      program.release();
    },
  };
}
