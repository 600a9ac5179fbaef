import { writeVarint } from './text-codec.js';

/** Bytes of a block's header: the next block's address, and how many of its data bytes are used. */
const HEADER = 8;
/** A list's first block; each next one is twice as large, up to {@link LAST_BLOCK}. */
const FIRST_BLOCK = 32;
const LAST_BLOCK = 1 << 16;
/** Blocks start at multiples of this: an address counts these units. */
const UNIT = 16;
/** Room an append needs: two varints of at most five bytes each. */
const POSTING_ROOM = 10;

/**
 * Postings lists as bytes: per list, the gaps between ascending document numbers as varints,
 * each optionally followed by a varint payload (the search index keeps title and abstract term
 * frequencies there). A common word's gap is one byte and its payload another, so a posting
 * costs about two bytes instead of the eight of two `Int32Array` slots.
 *
 * A list is a chain of blocks, each twice the last, cut from large shared pages: appending
 * never copies, and there is no object per list. As a typed array per list, grown by half and
 * copied, indexing 90k papers made ~150k arrays (15k lists, grown 135k times) for the collector,
 * and reading each list's array before its bytes was the slowest line of adding a paper
 * (profiled).
 */
export class PostingsLists {
  private readonly pageBytes: number;
  /** An address's page is `address >>> pageShift`; its unit in the page, `address & unitMask`. */
  private readonly pageShift: number;
  private readonly unitMask: number;
  private readonly pages: Uint8Array<ArrayBuffer>[] = [];
  /** The same pages as 32-bit words, for block headers. */
  private readonly pageWords: Int32Array<ArrayBuffer>[] = [];
  /** Bytes taken in the last page. */
  private pageUsed: number;
  /** Per list: the address of its first block and of its last (-1: none yet), and the last's size. */
  private heads = new Int32Array(256);
  private tails = new Int32Array(256);
  private sizes = new Int32Array(256);
  private counts = new Int32Array(256);
  private lasts = new Int32Array(256);
  private n = 0;
  private blockBytes = 0;

  /**
   * `withPayload`: every posting carries a payload. `pageBytes` (a power of two, at least
   * {@link LAST_BLOCK}): how much is allocated at once.
   */
  constructor(
    private readonly withPayload: boolean,
    options: { pageBytes?: number } = {},
  ) {
    const pageBytes = options.pageBytes ?? 1 << 20;
    if (pageBytes < LAST_BLOCK || (pageBytes & (pageBytes - 1)) !== 0)
      throw new RangeError(`postings: a page of ${pageBytes} bytes`);
    this.pageBytes = pageBytes;
    this.pageShift = Math.log2(pageBytes / UNIT);
    this.unitMask = pageBytes / UNIT - 1;
    this.pageUsed = pageBytes;
  }

  /** How many lists there are. */
  get size(): number {
    return this.n;
  }

  /** A new, empty list; returns its number. */
  create(): number {
    const id = this.n++;
    if (id === this.heads.length) {
      this.heads = grown(this.heads, id * 2);
      this.tails = grown(this.tails, id * 2);
      this.sizes = grown(this.sizes, id * 2);
      this.counts = grown(this.counts, id * 2);
      this.lasts = grown(this.lasts, id * 2);
    }
    this.heads[id] = -1;
    this.tails[id] = -1;
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
    let block = this.tails[id] as number;
    let size = this.sizes[id] as number;
    let page = this.pageOf(block);
    let base = this.offsetOf(block);
    let used = block < 0 ? 0 : ((this.pageWords[page] as Int32Array)[(base >> 2) + 1] as number);
    if (block < 0 || HEADER + used + POSTING_ROOM > size) {
      const previous = block;
      size = block < 0 ? FIRST_BLOCK : Math.min(2 * size, LAST_BLOCK);
      block = this.allocate(size);
      if (previous < 0) this.heads[id] = block;
      else (this.pageWords[page] as Int32Array)[base >> 2] = block;
      this.tails[id] = block;
      this.sizes[id] = size;
      page = this.pageOf(block);
      base = this.offsetOf(block);
      used = 0;
    }
    const bytes = this.pages[page] as Uint8Array;
    const start = base + HEADER;
    let at = writeVarint(bytes, start + used, doc - last);
    if (this.withPayload) at = writeVarint(bytes, at, payload);
    (this.pageWords[page] as Int32Array)[(base >> 2) + 1] = at - start;
    this.lasts[id] = doc;
    this.counts[id] = (this.counts[id] as number) + 1;
  }

  /** Calls `fn` for each document of list `id` in order, with its payload (or -1). */
  forEach(id: number, fn: (doc: number, payload: number) => void): void {
    const withPayload = this.withPayload;
    let doc = -1;
    for (let block = this.heads[id] as number; block >= 0; ) {
      const page = this.pageOf(block);
      const base = this.offsetOf(block);
      const words = this.pageWords[page] as Int32Array;
      const buf = this.pages[page] as Uint8Array;
      let at = base + HEADER;
      const end = at + (words[(base >> 2) + 1] as number);
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
      block = words[base >> 2] as number;
    }
  }

  /** Bytes held by the lists (their blocks, not only what is used). */
  get byteLength(): number {
    return this.blockBytes;
  }

  /** The page of block address `block`. */
  private pageOf(block: number): number {
    return block >>> this.pageShift;
  }

  /** The byte offset of block address `block` in its page. */
  private offsetOf(block: number): number {
    return (block & this.unitMask) * UNIT;
  }

  /** A new block of `size` bytes, its header empty; returns its address. */
  private allocate(size: number): number {
    if (this.pageUsed + size > this.pageBytes) {
      const page = new Uint8Array(this.pageBytes);
      this.pages.push(page);
      this.pageWords.push(new Int32Array(page.buffer));
      this.pageUsed = 0;
    }
    const page = this.pages.length - 1;
    const offset = this.pageUsed;
    this.pageUsed += size;
    this.blockBytes += size;
    const words = this.pageWords[page] as Int32Array;
    words[offset >> 2] = -1;
    words[(offset >> 2) + 1] = 0;
    // Below 2^31 units (32 GiB of postings): an address fits the Int32Array columns.
    return (page << this.pageShift) + offset / UNIT;
  }
}

function grown(a: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size);
  next.set(a);
  return next;
}
