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

  it('give back every list whole when appends to many lists interleave across blocks and pages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.nat()), {
          minLength: 1,
          maxLength: 3000,
        }),
        (nLists, appends) => {
          // Pages of the smallest size, so a few thousand postings span several.
          const store = new PostingsLists(true, { pageBytes: 1 << 16 });
          const ids = Array.from({ length: nLists }, () => store.create());
          const want = ids.map(() => [] as Array<[number, number]>);
          const next = ids.map(() => 0);
          for (const [pick, step, payload] of appends) {
            const k = pick % nLists;
            // Gaps up to 2^31 would overflow: most are small, a few large, documents below 2^31.
            const doc = next[k] as number;
            if (doc >= 2 ** 31) continue;
            store.append(ids[k] as number, doc, payload);
            (want[k] as Array<[number, number]>).push([doc, payload]);
            next[k] = doc + 1 + (step % 97 === 0 ? step : step % 300);
          }
          ids.forEach((id, k) => {
            const got: Array<[number, number]> = [];
            store.forEach(id, (doc, payload) => got.push([doc, payload]));
            expect(got).toEqual(want[k]);
            expect(store.count(id)).toBe(want[k]?.length);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('hold a long list across pages without copying it', () => {
    const store = new PostingsLists(false, { pageBytes: 1 << 16 });
    const a = store.create();
    const b = store.create();
    for (let n = 0; n < 200_000; n++) {
      store.append(a, 2 * n);
      if (n % 1000 === 0) store.append(b, n);
    }
    let count = 0;
    let ok = true;
    store.forEach(a, (doc) => {
      if (doc !== 2 * count) ok = false;
      count++;
    });
    expect(ok).toBe(true);
    expect(count).toBe(200_000);
    // One byte a posting, and blocks twice the last at most: under twice the bytes, plus a page.
    expect(store.byteLength).toBeLessThan(2 * 200_000 + (1 << 16));
    expect(() => new PostingsLists(false, { pageBytes: 1000 })).toThrow(/page of 1000 bytes/);
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
