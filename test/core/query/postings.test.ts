import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PostingsLists } from '../../../src/core/query/postings.js';

describe('postings lists', () => {
  it('give back every document and payload in order, whatever the gaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.integer({ min: 1, max: 2 ** 24 }), fc.nat()), { maxLength: 60 }), {
          maxLength: 8,
        }),
        (lists) => {
          const store = new PostingsLists(true);
          const expected = lists.map((entries) => {
            const id = store.create();
            let doc = -1;
            const out: Array<[number, number]> = [];
            for (const [gap, payload] of entries) {
              doc += gap;
              store.append(id, doc, payload);
              out.push([doc, payload]);
            }
            return { id, out };
          });
          for (const { id, out } of expected) {
            const got: Array<[number, number]> = [];
            store.forEach(id, (doc, payload) => got.push([doc, payload]));
            expect(got).toEqual(out);
            expect(store.count(id)).toBe(out.length);
            expect(store.last(id)).toBe(out.at(-1)?.[0] ?? -1);
          }
        },
      ),
    );
  });

  it('keep lists without payloads apart, and refuse a document out of order', () => {
    const store = new PostingsLists(false);
    const a = store.create();
    const b = store.create();
    for (let n = 0; n < 1000; n += 3) store.append(a, n);
    store.append(b, 5);
    const got: number[] = [];
    store.forEach(a, (doc, payload) => {
      expect(payload).toBe(-1);
      got.push(doc);
    });
    expect(got).toEqual(Array.from({ length: 334 }, (_, i) => i * 3));
    expect(() => store.append(b, 5)).toThrow(/document 5 after 5/);
    // About a byte per posting for small gaps, not the 4 of an Int32Array slot.
    expect(store.byteLength).toBeLessThan(600);
  });
});
