import { writeVarint } from './text-codec.js';

/**
 * Postings lists as bytes: per list, the gaps between ascending document numbers as varints,
 * each optionally followed by a varint payload (the search index keeps title and abstract term
 * frequencies there). A common word's gap is one byte and its payload another, so a posting
 * costs about two bytes instead of the eight of two `Int32Array` slots, and a list grows by half
 * rather than doubling. Lists are numbered; their lengths, counts and last documents live in
 * shared typed columns, so a list is one small byte array and nothing else.
 */
export class PostingsLists {
  /** `withPayload`: every posting carries a payload. */
  constructor(private readonly withPayload: boolean) {}

  private bytes: Uint8Array<ArrayBuffer>[] = [];
  private used = new Int32Array(256);
  private counts = new Int32Array(256);
  private lasts = new Int32Array(256);

  /** How many lists there are. */
  get size(): number {
    return this.bytes.length;
  }

  /** A new, empty list; returns its number. */
  create(): number {
    const id = this.bytes.length;
    if (id === this.used.length) {
      this.used = grown(this.used, id * 2);
      this.counts = grown(this.counts, id * 2);
      this.lasts = grown(this.lasts, id * 2);
    }
    this.bytes.push(new Uint8Array(8));
    this.lasts[id] = -1;
    return id;
  }

  /** Documents in list `id`. */
  count(id: number): number {
    return this.counts[id] as number;
  }

  /** The last document appended to list `id`, or -1. */
  last(id: number): number {
    return this.lasts[id] as number;
  }

  /** Appends `doc` (greater than the list's last, below 2^31), with its payload (≥ 0) if the lists have them. */
  append(id: number, doc: number, payload = 0): void {
    const last = this.lasts[id] as number;
    if (doc <= last) throw new RangeError(`postings: document ${doc} after ${last}`);
    let buf = this.bytes[id] as Uint8Array<ArrayBuffer>;
    let at = this.used[id] as number;
    // Two varints of at most five bytes each.
    if (at + 10 > buf.length) {
      const next = new Uint8Array(Math.max(buf.length + (buf.length >> 1), at + 10));
      next.set(buf.subarray(0, at));
      buf = next;
      this.bytes[id] = buf;
    }
    at = writeVarint(buf, at, doc - last);
    if (this.withPayload) at = writeVarint(buf, at, payload);
    this.used[id] = at;
    this.lasts[id] = doc;
    this.counts[id] = (this.counts[id] as number) + 1;
  }

  /** Calls `fn` for each document of list `id` in order, with its payload (or -1). */
  forEach(id: number, fn: (doc: number, payload: number) => void): void {
    const withPayload = this.withPayload;
    const buf = this.bytes[id] as Uint8Array;
    const end = this.used[id] as number;
    let at = 0;
    let doc = -1;
    while (at < end) {
      let gap = 0;
      let shift = 0;
      let b: number;
      do {
        b = buf[at++] as number;
        gap += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80);
      doc += gap;
      let payload = -1;
      if (withPayload) {
        payload = 0;
        shift = 0;
        do {
          b = buf[at++] as number;
          payload += (b & 0x7f) * 2 ** shift;
          shift += 7;
        } while (b & 0x80);
      }
      fn(doc, payload);
    }
  }

  /** Bytes held by the lists (their capacity, not only what is used). */
  get byteLength(): number {
    let n = 0;
    for (const b of this.bytes) n += b.length;
    return n;
  }
}

function grown(a: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size);
  next.set(a);
  return next;
}
