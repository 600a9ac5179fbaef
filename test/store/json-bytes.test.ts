import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonByteWriter, JsonStrings } from '../../src/store/json-bytes.js';

/** What the writer must give: JSON.stringify's text as UTF-8. */
const expected = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

function written(value: unknown, writer = new JsonByteWriter(16)): Buffer {
  writer.reset();
  writer.write(value);
  return Buffer.from(writer.view(0));
}

describe('JsonByteWriter', () => {
  // Strings of every kind: ASCII, other planes, lone and paired surrogates, controls, escapes.
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: 'grapheme', maxLength: 80 }),
    fc.string({
      unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'a', '\ud83d', '\ude00'),
    }),
  );
  const number = fc.oneof(
    fc.integer(),
    fc.nat(),
    fc.double(),
    fc.constantFrom(
      0,
      -0,
      9,
      10,
      99,
      100,
      2 ** 30 - 1,
      2 ** 30,
      2 ** 31,
      1e21,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ),
  );
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      text,
      number,
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('member'), { maxLength: 6 }),
      fc.dictionary(text, tie('member'), { maxKeys: 6 }),
    ),
    // What JSON leaves out of objects and writes as null in arrays, and what it converts.
    member: fc.oneof(
      tie('value'),
      fc.constant(undefined),
      fc.constant(() => 1),
      fc.constant(Symbol('s')),
      fc.date({ noInvalidDate: true }),
    ),
  }));

  it('writes exactly the bytes of JSON.stringify for any JSON-like value', () => {
    const writer = new JsonByteWriter(16);
    fc.assert(
      fc.property(value, (v) => {
        expect(written(v, writer).equals(expected(v))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes strings longer than its short path and its buffer the same way', () => {
    const long = fc.string({ unit: 'binary', minLength: 60, maxLength: 3000 });
    fc.assert(
      fc.property(long, (s) => {
        expect(written({ value: s }).equals(expected({ value: s }))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('converts as JSON.stringify does: toJSON with its key, boxed primitives, integer-like keys first', () => {
    const keyed = { toJSON: (key: string) => `key=${key}` };
    const v = {
      b: 1,
      2: 'two',
      a: [keyed, undefined, Number.NaN],
      keyed,
      boxed: [Object(3), Object('s'), Object(false)],
      when: new Date(Date.UTC(2026, 11, 1)),
      1: null,
    };
    expect(written(v).toString('utf8')).toBe(JSON.stringify(v));
  });

  it('writes own enumerable string keys only, as JSON.stringify does', () => {
    const inherited = Object.assign(Object.create({ fromProto: 1 }), { own: 2 });
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
      get sum() {
        return this.x + this.y;
      }
    }
    const hidden = Object.defineProperty({ shown: 1 }, 'hidden', { value: 2, enumerable: false });
    const v = { inherited, point: new Point(1, 2), hidden, [Symbol('s')]: 3, bare: Object.create(null) };
    v.bare.k = 'v';
    expect(written(v).toString('utf8')).toBe(JSON.stringify(v));
    expect(written(v).toString('utf8')).not.toContain('fromProto');
  });

  it('throws where JSON.stringify throws, and for a value with no JSON text', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    const writer = new JsonByteWriter();
    expect(() => writer.write(cyclic)).toThrow(/circular/);
    expect(() => writer.write({ n: 1n })).toThrow(/BigInt/);
    expect(() => writer.write(undefined)).toThrow(TypeError);
    // The same object twice, not nested, is no cycle.
    const shared = { x: 1 };
    expect(written([shared, { shared }]).toString()).toBe('[{"x":1},{"shared":{"x":1}}]');
  });

  it('appends: values written one after another sit side by side, each its own view', () => {
    const writer = new JsonByteWriter(8);
    writer.write('first');
    const mid = writer.length;
    writer.write({ second: [1, 2, 3] });
    expect(Buffer.from(writer.view(0, mid)).toString()).toBe('"first"');
    expect(Buffer.from(writer.view(mid)).toString()).toBe('{"second":[1,2,3]}');
  });

  it('copies strings written once as JSON, short and long, as JSON.stringify writes each', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 200 }), { maxLength: 30 }),
        fc.nat(),
        (strings, seed) => {
          const table = new JsonStrings(strings);
          const writer = new JsonByteWriter(8);
          // Each string where some value names it, in any order, repeats included.
          const picks = strings.map((_, i) => (i * 7 + seed) % strings.length);
          for (const i of picks) table.writeTo(writer, i);
          expect(Buffer.from(writer.view(0)).toString('utf8')).toBe(
            picks.map((i) => JSON.stringify(strings[i])).join(''),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
