import { writeVarint } from './text-codec.js';

/**
 * Bytes of a block's header: the next block's address, and how many of its data bytes are used
 * (written once the block is full: the last block's is its list's `USED`).
 */
const HEADER = 8;
/** A list's first block; each next one is twice as large, up to {@link LAST_BLOCK}. */
const FIRST_BLOCK = 32;
const LAST_BLOCK = 1 << 16;
/** Blocks start at multiples of this: an address counts these units. */
const UNIT = 16;
/** Room an append needs: two varints of at most five bytes each. */
const POSTING_ROOM = 10;
/** A list's numbers in {@link PostingsLists}' `meta`, at these offsets of its `META`. */
const META = 8;
const HEAD = 0;
const TAIL = 1;
const SIZE = 2;
const USED = 3;
const COUNT = 4;
const LAST = 5;

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
  /**
   * Per list, side by side in one cache line's half ({@link META} numbers a list): the address of
   * its first block and of its last (-1: none yet), the last's size and the bytes used in it, its
   * count and its last document. In columns of their own, an append read four lines of memory
   * for these, and the last block's header for its length.
   */
  private meta = new Int32Array(256 * META);
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
    if ((id + 1) * META > this.meta.length) {
      const next = new Int32Array(this.meta.length * 2);
      next.set(this.meta);
      this.meta = next;
    }
    const m = id * META;
    this.meta[m + HEAD] = -1;
    this.meta[m + TAIL] = -1;
    this.meta[m + LAST] = -1;
    return id;
  }

  /** Documents in list `id`. */
  count(id: number): number {
    return this.meta[id * META + COUNT] as number;
  }

  /** The last document appended to list `id`, or -1. */
  last(id: number): number {
    return this.meta[id * META + LAST] as number;
  }

  /** Appends `doc` (greater than the list's last, below 2^31), with its payload (≥ 0) if the lists have them. */
  append(id: number, doc: number, payload = 0): void {
    const meta = this.meta;
    const m = id * META;
    const last = meta[m + LAST] as number;
    if (doc <= last) throw new RangeError(`postings: document ${doc} after ${last}`);
    let block = meta[m + TAIL] as number;
    let used = meta[m + USED] as number;
    if (block < 0 || HEADER + used + POSTING_ROOM > (meta[m + SIZE] as number)) {
      const previous = block;
      const size = block < 0 ? FIRST_BLOCK : Math.min(2 * (meta[m + SIZE] as number), LAST_BLOCK);
      block = this.allocate(size);
      if (previous < 0) meta[m + HEAD] = block;
      else {
        // The full block's header gets its next block and its length, now final.
        const words = this.pageWords[this.pageOf(previous)] as Int32Array;
        const at = this.offsetOf(previous) >> 2;
        words[at] = block;
        words[at + 1] = used;
      }
      meta[m + TAIL] = block;
      meta[m + SIZE] = size;
      used = 0;
    }
    const bytes = this.pages[this.pageOf(block)] as Uint8Array;
    const start = this.offsetOf(block) + HEADER;
    let at = writeVarint(bytes, start + used, doc - last);
    if (this.withPayload) at = writeVarint(bytes, at, payload);
    meta[m + USED] = at - start;
    meta[m + LAST] = doc;
    meta[m + COUNT] = (meta[m + COUNT] as number) + 1;
  }

  /** Calls `fn` for each document of list `id` in order, with its payload (or -1). */
  forEach(id: number, fn: (doc: number, payload: number) => void): void {
    const withPayload = this.withPayload;
    let doc = -1;
    const m = id * META;
    const tail = this.meta[m + TAIL] as number;
    for (let block = this.meta[m + HEAD] as number; block >= 0; ) {
      const page = this.pageOf(block);
      const base = this.offsetOf(block);
      const words = this.pageWords[page] as Int32Array;
      const buf = this.pages[page] as Uint8Array;
      let at = base + HEADER;
      // The last block's length is the list's own; a full block's is in its header.
      const end = at + ((block === tail ? this.meta[m + USED] : words[(base >> 2) + 1]) as number);
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
    // Below 2^31 units (32 GiB of postings): an address fits the Int32Array `meta`.
    return (page << this.pageShift) + offset / UNIT;
  }
}
