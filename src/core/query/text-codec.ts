/**
 * Paper text kept small and exact: each string as the words it is made of (runs of ASCII
 * letters and digits, as written) and the gaps between them, words and short gaps interned once
 * for every paper. An abstract is a few hundred words that mostly recur across papers, followed
 * by a space: a word then costs a byte or two instead of its letters. Whatever else a string
 * holds (long gaps, non-ASCII text, lone surrogates) is kept inline, code unit by code unit, so
 * `decode(encode(s)) === s` for every string.
 */

import { detachText } from '../paper.js';

const isWordChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);

/** Gaps up to this long are interned; longer ones (LaTeX, odd punctuation) are written inline. */
const MAX_INTERNED_GAP = 4;

/** A growable byte buffer, reused from string to string. */
export class ByteWriter {
  bytes = new Uint8Array(4096);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  varint(v: number): void {
    if (this.length + 5 > this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2);
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    this.length = writeVarint(this.bytes, this.length, v);
  }
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
 * The interned words and gaps, and the encoder. After {@link encode}, `ids` and `hyphenAfter`
 * describe the string's words (surface word ids, and whether exactly `-` follows each), so a
 * caller can count them without scanning the string again.
 */
export class TextCodec {
  /** Words as written, by id. */
  readonly words: string[] = [];
  private readonly gaps: string[] = [' ', ''];
  private readonly gapIds = new Map<string, number>([
    [' ', 0],
    ['', 1],
  ]);
  ids = new Int32Array(512);
  hyphenAfter = new Uint8Array(512);
  /** Start and end of each word of the last string encoded. */
  private bounds = new Int32Array(1024);

  /**
   * Appends `s` to `out`: its word count, its leading gap, then per word `2·id + explicit`, where
   * a word not followed by the default gap (a space, or nothing after the last word) is
   * followed by its gap. A gap is `id + 1` of an interned one, or 0, its length and its code units.
   * Returns the number of words.
   */
  encode(s: string, out: ByteWriter): number {
    // Pass 1: word boundaries, and each word's id (looked up by a hash of its characters, so a
    // word seen before costs no string).
    const n = s.length;
    let count = 0;
    let i = 0;
    while (i < n) {
      if (!isWordChar(s.charCodeAt(i))) {
        i++;
        continue;
      }
      let h = 0x811c9dc5 | 0;
      let j = i;
      for (let c = s.charCodeAt(j); j < n && isWordChar(c); c = s.charCodeAt(++j))
        h = Math.imul(h ^ c, 0x01000193);
      if (2 * count + 2 > this.bounds.length) {
        const next = new Int32Array(this.bounds.length * 2);
        next.set(this.bounds);
        this.bounds = next;
        const ids = new Int32Array(next.length >> 1);
        ids.set(this.ids.subarray(0, count));
        this.ids = ids;
        this.hyphenAfter = new Uint8Array(next.length >> 1);
      }
      this.bounds[2 * count] = i;
      this.bounds[2 * count + 1] = j;
      this.ids[count] = this.wordId(s, i, j, h);
      count++;
      i = j;
    }
    const bounds = this.bounds;
    out.varint(count);
    this.gap(s, 0, count > 0 ? (bounds[0] as number) : n, out);
    for (let k = 0; k < count; k++) {
      const b = bounds[2 * k + 1] as number;
      const next = k + 1 < count ? (bounds[2 * k + 2] as number) : n;
      this.hyphenAfter[k] = k + 1 < count && next === b + 1 && s.charCodeAt(b) === 45 ? 1 : 0;
      const plain = k + 1 < count ? next === b + 1 && s.charCodeAt(b) === 32 : next === b;
      out.varint(2 * (this.ids[k] as number) + (plain ? 0 : 1));
      if (!plain) this.gap(s, b, next, out);
    }
    return count;
  }

  /** Open addressing over word ids + 1, by hash; grown at half full. */
  private table = new Int32Array(1 << 12);
  private hashes: number[] = [];

  private wordId(s: string, from: number, to: number, h: number): number {
    const len = to - from;
    let mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot] as number;
      if (e === 0) break;
      const id = e - 1;
      if (this.hashes[id] !== h) continue;
      const w = this.words[id] as string;
      if (w.length !== len) continue;
      let k = 0;
      while (k < len && w.charCodeAt(k) === s.charCodeAt(from + k)) k++;
      if (k === len) return id;
    }
    const id = this.words.length;
    // Kept for good: a copy, never a slice keeping the paper's feed document alive.
    this.words.push(detachText(s.slice(from, to)));
    this.hashes.push(h);
    if (2 * (id + 1) > this.table.length) {
      const next = new Int32Array(this.table.length * 2);
      mask = next.length - 1;
      for (let w = 0; w < id; w++) {
        let slot = (this.hashes[w] as number) & mask;
        while (next[slot] !== 0) slot = (slot + 1) & mask;
        next[slot] = w + 1;
      }
      this.table = next;
    }
    let slot = h & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = id + 1;
    return id;
  }

  private gap(s: string, from: number, to: number, out: ByteWriter): void {
    const len = to - from;
    if (len <= MAX_INTERNED_GAP) {
      const text = s.slice(from, to);
      let id = this.gapIds.get(text);
      if (id === undefined) {
        id = this.gaps.length;
        this.gaps.push(text);
        this.gapIds.set(text, id);
      }
      out.varint(id + 1);
      return;
    }
    out.varint(0);
    out.varint(len);
    for (let i = from; i < to; i++) out.varint(s.charCodeAt(i));
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
