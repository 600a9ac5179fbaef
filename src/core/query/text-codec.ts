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
    while (v >= 0x80) {
      this.bytes[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.bytes[this.length++] = v;
  }
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
  private readonly wordIds = new Map<string, number>();
  private readonly gaps: string[] = [' ', ''];
  private readonly gapIds = new Map<string, number>([
    [' ', 0],
    ['', 1],
  ]);
  ids = new Int32Array(512);
  hyphenAfter = new Uint8Array(512);
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  /**
   * Appends `s` to `out`: its word count, its leading gap, then per word `2·id + explicit`, where
   * a word not followed by the default gap (a space, or nothing after the last word) is
   * followed by its gap. A gap is `id + 1` of an interned one, or 0, its length and its code units.
   * Returns the number of words.
   */
  encode(s: string, out: ByteWriter): number {
    // Pass 1: word boundaries.
    const n = s.length;
    let count = 0;
    let i = 0;
    const starts: number[] = this.starts;
    const ends: number[] = this.ends;
    starts.length = 0;
    ends.length = 0;
    while (i < n) {
      if (!isWordChar(s.charCodeAt(i))) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < n && isWordChar(s.charCodeAt(j))) j++;
      starts.push(i);
      ends.push(j);
      count++;
      i = j;
    }
    if (count > this.ids.length) {
      this.ids = new Int32Array(count * 2);
      this.hyphenAfter = new Uint8Array(count * 2);
    }
    out.varint(count);
    this.gap(s, 0, count > 0 ? (starts[0] as number) : n, out);
    for (let k = 0; k < count; k++) {
      const a = starts[k] as number;
      const b = ends[k] as number;
      const word = s.slice(a, b);
      let id = this.wordIds.get(word);
      if (id === undefined) {
        id = this.words.length;
        // Kept for good: a copy, never a slice keeping the paper's feed document alive.
        const own = detachText(word);
        this.words.push(own);
        this.wordIds.set(own, id);
      }
      this.ids[k] = id;
      const next = k + 1 < count ? (starts[k + 1] as number) : n;
      this.hyphenAfter[k] = k + 1 < count && next === b + 1 && s.charCodeAt(b) === 45 ? 1 : 0;
      const plain = k + 1 < count ? next === b + 1 && s.charCodeAt(b) === 32 : next === b;
      out.varint(2 * id + (plain ? 0 : 1));
      if (!plain) this.gap(s, b, next, out);
    }
    return count;
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
