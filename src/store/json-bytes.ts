/**
 * JSON written straight into bytes: what `Buffer.from(JSON.stringify(value))` gives, without the
 * string. V8's JSON.stringify returns a value of more than a few dozen characters as a rope of the
 * pieces it grew, and writing the rope out as UTF-8 first copies it flat: every stored value cost
 * its size three times over in garbage (~1.6 GB of a 100k-paper cycle's ~5 GB; sampling heap
 * profiler). Here a string costs one native copy into the buffer, and numbers and structure none.
 */

/**
 * Characters JSON.stringify writes escaped: `"`, `\`, controls, and surrogates (lone ones are
 * escaped). Built from text: control characters in a regex literal read as a mistake.
 */
const SPECIAL_CHARS = '["\\\\\\u0000-\\u001f\\ud800-\\udfff]';
const SPECIAL = new RegExp(SPECIAL_CHARS);
const SPECIAL_G = new RegExp(SPECIAL_CHARS, 'g');

const SHORT_ESCAPES: Record<number, string> = {
  8: '\\b',
  9: '\\t',
  10: '\\n',
  12: '\\f',
  13: '\\r',
  34: '\\"',
  92: '\\\\',
};

const QUOTE = 0x22;
/** Strings up to this long are tried byte by byte first. */
const SHORT_STRING = 64;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * A value that writes its own JSON: {@link JsonByteWriter} asks it to (`writeJson`), and
 * JSON.stringify, through `toJSON`, gets the plain value whose text that must be. For values
 * that are columns of numbers and ids underneath, written without building their arrays.
 */
export abstract class JsonFragment {
  /** Writes exactly `JSON.stringify(this.toJSON())`, through the writer's public methods. */
  abstract writeJson(w: JsonByteWriter): void;
  abstract toJSON(): unknown;
}

export class JsonByteWriter {
  bytes: Buffer;
  length = 0;
  /** The objects and arrays being written, outermost first: a cycle throws, as JSON.stringify does. */
  private readonly stack: object[] = [];

  constructor(initialSize = 1 << 16) {
    this.bytes = Buffer.allocUnsafeSlow(initialSize);
  }

  reset(): void {
    this.length = 0;
  }

  /** The bytes written since `from`, as a view (valid until the next write or reset). */
  view(from: number, to: number = this.length): Uint8Array {
    return this.bytes.subarray(from, to);
  }

  /** Room for `n` more bytes. */
  private ensure(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(next, 0, 0, this.length);
    this.bytes = next;
  }

  /** One byte: `{`, `,` or another ASCII character of JSON's structure. */
  byte(b: number): void {
    this.ensure(1);
    this.bytes[this.length++] = b;
  }

  /** Bytes `from` to `to` of `src` as they are (JSON already: see {@link JsonStrings}). */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const bytes = this.bytes;
    const at = this.length;
    // Ids and words are a few dozen bytes: a loop, cheaper than a call out to native code.
    if (n <= 64) for (let i = 0; i < n; i++) bytes[at + i] = src[from + i] as number;
    else bytes.set(src.subarray(from, to), at);
    this.length = at + n;
  }

  /** `s` as UTF-8, unquoted and unescaped (it must hold no lone surrogate). */
  raw(s: string): void {
    this.ensure(s.length * 3);
    this.length += this.bytes.write(s, this.length, 'utf8');
  }

  /** An ASCII string (digits, `null`, `true`...). */
  private ascii(s: string): void {
    this.ensure(s.length);
    this.length += this.bytes.write(s, this.length, 'latin1');
  }

  /**
   * Appends `JSON.stringify(value)` as UTF-8. Throws where JSON.stringify throws (a cycle, a
   * BigInt), and for a value JSON.stringify would give `undefined` for (a function, a symbol,
   * `undefined`): there is nothing to store then.
   */
  write(value: unknown): void {
    if (!this.value(value, '')) throw new TypeError(`JSON has no text for ${typeof value}`);
  }

  /** Writes `value` (the property `key`'s); false, having written nothing, when JSON leaves it out. */
  private value(value: unknown, key: string | number): boolean {
    if (value instanceof JsonFragment) {
      value.writeJson(this);
      return true;
    }
    if (
      value !== null &&
      typeof value === 'object' &&
      typeof (value as { toJSON?: unknown }).toJSON === 'function'
    )
      value = (value as { toJSON(key: string): unknown }).toJSON(String(key));
    switch (typeof value) {
      case 'string':
        this.string(value);
        return true;
      case 'number':
        this.number(value);
        return true;
      case 'boolean':
        this.ascii(value ? 'true' : 'false');
        return true;
      case 'bigint':
        throw new TypeError('Do not know how to serialize a BigInt');
      case 'object':
        if (value === null) this.ascii('null');
        else if (value instanceof Number) this.number(Number(value));
        else if (value instanceof String) this.string(String(value));
        else if (value instanceof Boolean) this.ascii(value.valueOf() ? 'true' : 'false');
        else if (value instanceof BigInt) throw new TypeError('Do not know how to serialize a BigInt');
        else this.structure(value);
        return true;
      default:
        return false;
    }
  }

  /** `JSON.stringify(n)`. */
  number(n: number): void {
    if (!Number.isFinite(n)) this.ascii('null');
    else if (n >= 0 && n < 0x40000000 && (n | 0) === n) {
      // A small non-negative integer, the common case (counts, indexes, thousandths): its digits.
      this.ensure(10);
      const bytes = this.bytes;
      if (n < 10) {
        bytes[this.length++] = 48 + n;
        return;
      }
      let digits = 2;
      for (let p = 100; p <= n; p *= 10) digits++;
      let at = this.length + digits;
      this.length = at;
      let v = n | 0;
      do {
        const q = (v / 10) | 0;
        bytes[--at] = 48 + v - q * 10;
        v = q;
      } while (v > 0);
    } else this.ascii(String(n));
  }

  private structure(o: object): void {
    if (this.stack.includes(o)) throw new TypeError('Converting circular structure to JSON');
    this.stack.push(o);
    if (Array.isArray(o)) {
      this.byte(0x5b);
      for (let i = 0; i < o.length; i++) {
        if (i > 0) this.byte(COMMA);
        const v: unknown = o[i];
        if (typeof v === 'number') this.number(v);
        else if (!this.value(v, i)) this.ascii('null');
      }
      this.byte(0x5d);
    } else {
      this.byte(0x7b);
      let first = true;
      const record = o as Record<string, unknown>;
      // for-in, not Object.keys: the same keys in the same order for a record's own properties,
      // without an array of them per object (~140 MB of a 100k-paper cycle's garbage).
      for (const k in record) {
        if (!Object.hasOwn(record, k)) continue;
        const at = this.length;
        if (!first) this.byte(COMMA);
        this.string(k);
        this.byte(COLON);
        if (this.value(record[k], k)) first = false;
        else this.length = at;
      }
      this.byte(0x7d);
    }
    this.stack.pop();
  }

  /** `s` quoted and escaped as JSON.stringify writes it (ES2019: lone surrogates as `\uXXXX`). */
  string(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 2);
    const bytes = this.bytes;
    let at = this.length;
    bytes[at++] = QUOTE;
    if (n <= SHORT_STRING) {
      // Ids, keys and words: printable ASCII byte by byte, cheaper than a call out to native code.
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) break;
        bytes[at + i] = c;
      }
      if (i === n) {
        bytes[at + n] = QUOTE;
        this.length = at + n + 1;
        return;
      }
    }
    this.length = at;
    if (!SPECIAL.test(s)) this.length += bytes.write(s, at, 'utf8');
    else this.escaped(s);
    this.byte(QUOTE);
  }

  private escaped(s: string): void {
    SPECIAL_G.lastIndex = 0;
    let from = 0;
    for (let m = SPECIAL_G.exec(s); m !== null; m = SPECIAL_G.exec(s)) {
      let i = m.index;
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          // A pair: one character, written as it is with the text around it.
          SPECIAL_G.lastIndex = i + 2;
          continue;
        }
      }
      if (i > from) this.raw(s.slice(from, i));
      const short = SHORT_ESCAPES[c];
      this.ascii(short ?? `\\u${c.toString(16).padStart(4, '0')}`);
      from = ++i;
    }
    if (from < s.length) this.raw(from === 0 ? s : s.slice(from));
  }
}

/**
 * Strings written as JSON once (quoted and escaped), to be copied into every value that names
 * them: a plan's paper ids, its words and its subscription ids are each written into dozens of
 * outbox records.
 */
export class JsonStrings {
  readonly bytes: Uint8Array;
  /** String `i` is `bytes[starts[i], starts[i + 1])`. */
  readonly starts: Int32Array;

  constructor(strings: readonly string[]) {
    const w = new JsonByteWriter(Math.max(64, strings.length * 24));
    const starts = new Int32Array(strings.length + 1);
    for (let i = 0; i < strings.length; i++) {
      w.string(strings[i] as string);
      starts[i + 1] = w.length;
    }
    this.bytes = w.view(0);
    this.starts = starts;
  }

  /** Writes string `i` into `w`. */
  writeTo(w: JsonByteWriter, i: number): void {
    w.copy(this.bytes, this.starts[i] as number, this.starts[i + 1] as number);
  }
}
