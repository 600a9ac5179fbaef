import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, TextCodec } from '../../../src/core/query/text-codec.js';

describe('text codec', () => {
  const pieces = fc.constantFrom(
    ' ',
    '  ',
    '-',
    '--',
    '. ',
    ',',
    '\n',
    '\t',
    '$x^2$ ',
    'ℵ',
    '😀',
    '\ud800',
    '\udc00',
    'é',
    '"',
  );
  const words = fc.stringMatching(/^[A-Za-z0-9]{1,20}$/);
  const text = fc.oneof(
    fc.array(fc.oneof(words, pieces), { maxLength: 40 }).map((xs) => xs.join('')),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );

  it('gives back every string exactly, in order, sharing one vocabulary', () => {
    fc.assert(
      fc.property(fc.array(text, { maxLength: 12 }), (strings) => {
        const codec = new TextCodec();
        const blobs = strings.map((s) => {
          const w = new ByteWriter();
          codec.encode(s, w);
          codec.encode(`${s} tail`, w);
          return w.bytes.slice(0, w.length);
        });
        strings.forEach((s, i) => {
          const r = new ByteReader(blobs[i] as Uint8Array);
          expect(codec.decode(r)).toBe(s);
          expect(codec.decode(r)).toBe(`${s} tail`);
        });
      }),
    );
  });

  it('writes exactly what a plain encoder over regex words writes, and knows when a string is ASCII', () => {
    // The layout, spelled out: count, leading gap, then per word 2·id + explicit and its gap.
    const reference = () => {
      const words = new Map<string, number>();
      const gaps = new Map<string, number>([
        [' ', 0],
        ['', 1],
      ]);
      const gap = (g: string): number[] => {
        if (g.length > 4)
          return [0, g.length, ...Array.from({ length: g.length }, (_, i) => g.charCodeAt(i))];
        if (!gaps.has(g)) gaps.set(g, gaps.size);
        return [(gaps.get(g) as number) + 1];
      };
      return (s: string): number[] => {
        const runs = [...s.matchAll(/[A-Za-z0-9]+/g)];
        const ends = runs.map((m) => (m.index as number) + m[0].length);
        const out = [runs.length, ...gap(s.slice(0, runs[0]?.index ?? s.length))];
        runs.forEach((m, k) => {
          if (!words.has(m[0])) words.set(m[0], words.size);
          const after = s.slice(ends[k], runs[k + 1]?.index ?? s.length);
          const plain = k + 1 < runs.length ? after === ' ' : after === '';
          out.push(2 * (words.get(m[0]) as number) + (plain ? 0 : 1), ...(plain ? [] : gap(after)));
        });
        return out;
      };
    };
    const varints = (xs: number[]) => {
      const w = new ByteWriter();
      for (const x of xs) w.varint(x);
      return Array.from(w.bytes.subarray(0, w.length));
    };
    const longGaps = fc.constantFrom(
      '     ',
      ' -- -- ',
      '\u00e9\u00e9\u00e9\u00e9\u00e9',
      '\ud800 \udc00 \ud800',
    );
    const mixed = fc.oneof(
      text,
      fc.array(fc.oneof(words, pieces, longGaps), { maxLength: 200 }).map((xs) => xs.join('')),
    );
    fc.assert(
      fc.property(fc.array(mixed, { maxLength: 12 }), (strings) => {
        const codec = new TextCodec();
        const encode = reference();
        for (const s of strings) {
          const w = new ByteWriter();
          codec.encode(s, w);
          expect(Array.from(w.bytes.subarray(0, w.length))).toEqual(varints(encode(s)));
          expect(codec.ascii).toBe(!/[^\p{ASCII}]/u.test(s));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reports each word as written, and which are joined to the next by one hyphen', () => {
    const codec = new TextCodec();
    const n = codec.encode('State-of-the-art models -- a x-ray; co- op end-', new ByteWriter());
    const got = Array.from({ length: n }, (_, k) => [
      codec.words[codec.ids[k] as number],
      codec.hyphenAfter[k],
    ]);
    expect(got).toEqual([
      ['State', 1],
      ['of', 1],
      ['the', 1],
      ['art', 0],
      ['models', 0],
      ['a', 0],
      ['x', 1],
      ['ray', 0],
      ['co', 0],
      ['op', 0],
      ['end', 0],
    ]);
  });

  it('keeps every word of a long text (thousands of words)', () => {
    const codec = new TextCodec();
    const long = Array.from({ length: 3000 }, (_, i) => `w${i % 700}`).join(' ');
    const w = new ByteWriter();
    const n = codec.encode(long, w);
    expect(n).toBe(3000);
    expect(Array.from(codec.ids.subarray(0, n), (id) => codec.words[id]).join(' ')).toBe(long);
    expect(codec.decode(new ByteReader(w.bytes.subarray(0, w.length)))).toBe(long);
  });

  it('does not keep the room it reserved for one huge string', () => {
    const codec = new TextCodec();
    const w = new ByteWriter();
    const huge = 'é'.repeat(200_000);
    codec.encode(huge, w);
    expect(codec.decode(new ByteReader(w.bytes.subarray(0, w.length)))).toBe(huge);
    w.reset();
    expect(w.bytes.length).toBeLessThan(1 << 20);
  });

  it('writes a recurring word in a byte or two', () => {
    const codec = new TextCodec();
    const abstract =
      'we propose a new method for learning representations of graphs and we show it works. '.repeat(3);
    const first = new ByteWriter();
    codec.encode(abstract, first);
    const again = new ByteWriter();
    codec.encode(abstract, again);
    expect(again.length).toBeLessThan(abstract.length / 4);
  });
});
