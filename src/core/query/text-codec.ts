/**
 * Paper text kept small and exact: each string as the words it is made of (runs of ASCII
 * letters and digits, as written) and the gaps between them, words and short gaps interned once
 * for every paper. An abstract is a few hundred words that mostly recur across papers, followed
 * by a space: a word then costs a byte or two instead of its letters. Whatever else a string
 * holds (long gaps, non-ASCII text, lone surrogates) is kept inline, code unit by code unit, so
 * `decode(encode(s)) === s` for every string.
 */

import { detachText } from '../paper.js';

/**
 * ASCII letters and digits, by UTF-16 code unit: one load per character instead of three range
 * tests (encoding ~6% faster, alternated micro-benchmark runs). ASCII text reads two cache lines.
 */
const WORD_CHAR = new Uint8Array(65536);
for (let c = 48; c <= 57; c++) WORD_CHAR[c] = 1;
for (let c = 65; c <= 90; c++) WORD_CHAR[c] = 1;
for (let c = 97; c <= 122; c++) WORD_CHAR[c] = 1;
const isWordChar = (c: number): boolean => WORD_CHAR[c] === 1;

/** Gaps up to this long are interned; longer ones (LaTeX, odd punctuation) are written inline. */
const MAX_INTERNED_GAP = 4;

/** A growable byte buffer, reused from string to string. */
export class ByteWriter {
  bytes = new Uint8Array(4096);
  length = 0;

  reset(): void {
    this.length = 0;
    // Room reserved for one huge string (see TextCodec.encode) is not kept for the next.
    if (this.bytes.length > 1 << 20) this.bytes = new Uint8Array(4096);
  }

  varint(v: number): void {
    this.length = writeVarint(this.reserve(5), this.length, v);
  }

  /** The buffer, with room for at least `n` more bytes after `length`. */
  reserve(n: number): Uint8Array {
    if (this.length + n > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    return this.bytes;
  }
}

/** How many bytes {@link writeVarint} writes for `v`. */
function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

/**
 * Writes `v` (0 ≤ v < 2^32) at `at` as a little-endian base-128 varint (at most 5 bytes); returns
 * the next offset.
 */
export function writeVarint(buf: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** Reads what {@link ByteWriter.varint} wrote (values below 2^28: ids, lengths, code units). */
export class ByteReader {
  at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  varint(): number {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.bytes[this.at++] as number;
      v |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return v >>> 0;
  }
}

/**
 * The interned words and gaps, and the encoder. After {@link encode}, `ids`, `wordStarts`,
 * `wordEnds` and `hyphenAfter` describe the string's words (surface word ids, where each is, and whether
 * exactly `-` follows it), and `ascii` whether every code unit was below 128, so a caller can
 * count the words, or match them ({@link FieldWords}), without scanning the string again.
 */
export class TextCodec {
  /** Words as written, by id. */
  readonly words: string[] = [];
  private readonly gaps: string[] = [' ', ''];
  private readonly gapIds = new Map<string, number>([
    [' ', 0],
    ['', 1],
  ]);
  /** Short ASCII gaps by their code units packed in a number ({@link gap}): no string to slice. */
  private readonly packedGapIds = new Map<number, number>();
  ids = new Int32Array(512);
  hyphenAfter = new Uint8Array(512);
  /** Where each word starts and ends in the string (code units). */
  wordStarts = new Int32Array(512);
  wordEnds = new Int32Array(512);
  /** Whether the last string encoded was all ASCII (no code unit above 127). */
  ascii = true;

  /**
   * Appends `s` to `out`: its word count, its leading gap, then per word `2·id + explicit`, where
   * a word not followed by the default gap (a space, or nothing after the last word) is
   * followed by its gap. A gap is `id + 1` of an interned one, or 0, its length and its code units.
   * Returns the number of words.
   */
  encode(s: string, out: ByteWriter): number {
    const n = s.length;
    // Words are separated by gaps, so there are at most (n + 1) / 2 of them; the count costs at
    // most 5 bytes, every word 5, every gap 6 and 3 a code unit (under 17 + 8.5n in all), so
    // nothing below needs a bounds check.
    const bytes = out.reserve(17 + 9 * n);
    if ((n + 1) >> 1 > this.ids.length) {
      this.ids = new Int32Array((n + 1) >> 1);
      this.hyphenAfter = new Uint8Array((n + 1) >> 1);
      this.wordStarts = new Int32Array((n + 1) >> 1);
      this.wordEnds = new Int32Array((n + 1) >> 1);
    }
    const ids = this.ids;
    const starts = this.wordStarts;
    const ends = this.wordEnds;
    // The count comes first but is known last: room for the most it can be, closed up after.
    const countAt = out.length;
    const countRoom = varintLength((n + 1) >> 1);
    let at = countAt + countRoom;
    let ascii = true;
    let count = 0;
    /** Where the gap after the last word found (or before the first) starts. */
    let gapFrom = 0;
    let i = 0;
    // One pass: a word's entry is written when the next word is found, which ends its gap.
    while (i < n) {
      const c0 = s.charCodeAt(i);
      if (!isWordChar(c0)) {
        if (c0 > 127) ascii = false;
        i++;
        continue;
      }
      let h = Math.imul(0x811c9dc5 ^ c0, 0x01000193);
      let j = i + 1;
      for (; j < n; j++) {
        const c = s.charCodeAt(j);
        if (!isWordChar(c)) break;
        h = Math.imul(h ^ c, 0x01000193);
      }
      const id = this.wordId(s, i, j, h);
      if (count === 0) at = this.gap(s, 0, i, bytes, at);
      else at = this.wordEntry(s, count - 1, gapFrom, i, bytes, at);
      starts[count] = i;
      ends[count] = j;
      ids[count++] = id;
      gapFrom = j;
      i = j;
    }
    if (count === 0) at = this.gap(s, 0, n, bytes, at);
    else at = this.wordEntry(s, count - 1, gapFrom, n, bytes, at);
    const countLength = varintLength(count);
    if (countLength < countRoom) {
      bytes.copyWithin(countAt + countLength, countAt + countRoom, at);
      at -= countRoom - countLength;
    }
    writeVarint(bytes, countAt, count);
    out.length = at;
    this.ascii = ascii;
    return count;
  }

  /** Writes word `k`'s entry, followed by `s[from, to)`, the gap after it; returns the next offset. */
  private wordEntry(s: string, k: number, from: number, to: number, bytes: Uint8Array, at: number): number {
    const last = to === s.length;
    const single = to === from + 1;
    this.hyphenAfter[k] = !last && single && s.charCodeAt(from) === 45 ? 1 : 0;
    const plain = last ? from === to : single && s.charCodeAt(from) === 32;
    at = writeVarint(bytes, at, 2 * (this.ids[k] as number) + (plain ? 0 : 1));
    return plain ? at : this.gap(s, from, to, bytes, at);
  }

  /**
   * Open addressing by hash: per slot the word's hash and its id + 1 (0: free), side by side so a
   * probe reads one cache line; grown at half full.
   */
  private table = new Int32Array(2 << 12);

  /** Every word's characters (ASCII), end to end: word `id` is `chars[starts[id], starts[id + 1])`. */
  private chars = new Uint8Array(1 << 14);
  private starts = new Int32Array(1024);

  private keepChars(s: string, from: number, to: number): void {
    const id = this.words.length - 1;
    const start = this.starts[id] as number;
    const end = start + to - from;
    if (end > this.chars.length) {
      const next = new Uint8Array(Math.max(end, this.chars.length * 2));
      next.set(this.chars);
      this.chars = next;
    }
    for (let i = from; i < to; i++) this.chars[start + i - from] = s.charCodeAt(i);
    if (id + 2 > this.starts.length) {
      const next = new Int32Array(this.starts.length * 2);
      next.set(this.starts);
      this.starts = next;
    }
    this.starts[id + 1] = end;
  }

  private wordId(s: string, from: number, to: number, h: number): number {
    const len = to - from;
    const words = this.words;
    let table = this.table;
    let mask = (table.length >> 1) - 1;
    const starts = this.starts;
    const chars = this.chars;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = table[2 * slot + 1] as number;
      if (e === 0) break;
      if (table[2 * slot] !== h) continue;
      const start = starts[e - 1] as number;
      if ((starts[e] as number) - start !== len) continue;
      let k = 0;
      while (k < len && chars[start + k] === s.charCodeAt(from + k)) k++;
      if (k === len) return e - 1;
    }
    const id = words.length;
    // Kept for good: a copy, never a slice keeping the paper's feed document alive.
    words.push(detachText(s.slice(from, to)));
    this.keepChars(s, from, to);
    if (4 * (id + 1) > table.length) {
      const old = table;
      table = new Int32Array(old.length * 2);
      mask = (table.length >> 1) - 1;
      for (let o = 0; o < old.length; o += 2) {
        if (old[o + 1] === 0) continue;
        let slot = (old[o] as number) & mask;
        while (table[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
        table[2 * slot] = old[o] as number;
        table[2 * slot + 1] = old[o + 1] as number;
      }
      this.table = table;
    }
    let slot = h & mask;
    while (table[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    table[2 * slot] = h;
    table[2 * slot + 1] = id + 1;
    return id;
  }

  /** Writes the gap `s[from, to)` at `at`; returns the next offset. */
  private gap(s: string, from: number, to: number, bytes: Uint8Array, at: number): number {
    const len = to - from;
    if (len <= MAX_INTERNED_GAP) {
      let id: number | undefined;
      // Seven bits a code unit and two for the length: below 2^30, a small integer to V8.
      let packed = len - 1;
      for (let i = from; i < to && packed >= 0; i++) {
        const c = s.charCodeAt(i);
        packed = c > 127 ? -1 : packed * 128 + c;
      }
      if (len === 0) id = 1;
      else if (packed >= 0) id = this.packedGapIds.get(packed);
      if (id === undefined) {
        const text = s.slice(from, to);
        id = this.gapIds.get(text);
        if (id === undefined) {
          id = this.gaps.length;
          this.gaps.push(text);
          this.gapIds.set(text, id);
        }
        if (packed >= 0) this.packedGapIds.set(packed, id);
      }
      return writeVarint(bytes, at, id + 1);
    }
    bytes[at++] = 0;
    at = writeVarint(bytes, at, len);
    for (let i = from; i < to; i++) at = writeVarint(bytes, at, s.charCodeAt(i));
    return at;
  }

  /** The next string of `r`, as {@link encode} wrote it. */
  decode(r: ByteReader): string {
    const count = r.varint();
    let s = this.readGap(r);
    for (let k = 0; k < count; k++) {
      const v = r.varint();
      s += this.words[v >>> 1] as string;
      if (v & 1) s += this.readGap(r);
      else if (k + 1 < count) s += ' ';
    }
    return s;
  }

  private readGap(r: ByteReader): string {
    const v = r.varint();
    if (v > 0) return this.gaps[v - 1] as string;
    const len = r.varint();
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(r.varint());
    return s;
  }
}

/**
 * The words {@link TextCodec} found in many strings (a step's papers'), end to end: each string's
 * are a {@link FieldWords} view into it. Copied out of the codec, whose arrays the next string
 * reuses.
 */
export class WordPool {
  ids = new Int32Array(1 << 16);
  starts = new Int32Array(1 << 16);
  ends = new Int32Array(1 << 16);
  hyphenAfter = new Uint8Array(1 << 16);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** Appends the `count` words `codec` found in the string it encoded last; returns where. */
  append(codec: TextCodec, count: number): number {
    const at = this.length;
    if (at + count > this.ids.length) {
      const size = Math.max(at + count, 2 * this.ids.length);
      const grow = <A extends Int32Array | Uint8Array>(a: A, next: A): A => {
        next.set(a.subarray(0, at));
        return next;
      };
      this.ids = grow(this.ids, new Int32Array(size));
      this.starts = grow(this.starts, new Int32Array(size));
      this.ends = grow(this.ends, new Int32Array(size));
      this.hyphenAfter = grow(this.hyphenAfter, new Uint8Array(size));
    }
    this.ids.set(codec.ids.subarray(0, count), at);
    this.starts.set(codec.wordStarts.subarray(0, count), at);
    this.ends.set(codec.wordEnds.subarray(0, count), at);
    this.hyphenAfter.set(codec.hyphenAfter.subarray(0, count), at);
    this.length = at + count;
    return at;
  }
}

/**
 * One string's words as a {@link TextCodec} found them, `count` of them from `from` in a
 * {@link WordPool}: what the search index's encoding of a paper hands its matching, so the
 * paper's text is read once for both. Only for ASCII text, where the codec's words are exactly
 * the runs of letters and digits the matcher reads.
 */
export class FieldWords {
  /** The string these words are of; undefined when there are none to use (not ASCII). */
  text: string | undefined;
  /** The codec whose ids these are: ids mean nothing to another. */
  codec: TextCodec | undefined;
  from = 0;
  count = 0;

  constructor(readonly pool: WordPool) {}

  /** Copies the `count` words `codec` found in `text`, the string it encoded last. */
  take(codec: TextCodec, text: string, count: number): void {
    if (!codec.ascii) {
      this.text = undefined;
      return;
    }
    this.from = this.pool.append(codec, count);
    this.count = count;
    this.codec = codec;
    this.text = text;
  }

  /** Lets the string go (kept, it would hold its paper's text until the next paper). */
  clear(): void {
    this.text = undefined;
  }
}

/** A paper's title and abstract as {@link FieldWords}. */
export class PaperWords {
  readonly title: FieldWords;
  readonly abstract: FieldWords;

  constructor(pool: WordPool) {
    this.title = new FieldWords(pool);
    this.abstract = new FieldWords(pool);
  }

  clear(): void {
    this.title.clear();
    this.abstract.clear();
  }
}
