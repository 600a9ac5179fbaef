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
