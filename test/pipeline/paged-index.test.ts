import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSearchIndex, parseQuery, type Query } from '../../src/core/query/index.js';
import { type IndexedPaper, PagedIndex } from '../../src/pipeline/paged-index.js';

const q = (text: string): Query => {
  const r = parseQuery(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.query;
};

const paper = (id: string, title: string, firstSeen: string): IndexedPaper => ({
  id,
  title,
  abstract: '',
  authors: [],
  categories: ['cs.LG'],
  sources: ['test'],
  firstSeen,
});

/** Times as this program writes them, a few of them equal, and values it never writes. */
const time = fc.oneof(
  fc.constantFrom(
    '2026-11-22T00:00:00.000Z',
    '2026-11-22T00:00:00.001Z',
    '2026-11-21T23:59:59.999Z',
    '2026-11-22',
    '2026-11-22T00:00:00Z',
    '2026-13-01T00:00:00.000Z',
    '+010000-01-01T00:00:00.000Z',
    '0999-01-01T00:00:00.000Z',
    '',
    'garbage',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.string({ maxLength: 6 }),
);

describe('the paged index', () => {
  it('keeps a paper first seen exactly at `since`, and drops one a millisecond earlier', () => {
    const index = new PagedIndex();
    index.add([
      paper('a', 'agents', '2026-11-22T10:00:00.000Z'),
      paper('b', 'agents', '2026-11-22T09:59:59.999Z'),
      paper('c', 'agents', '2026-11-23T00:00:00.000Z'),
    ]);
    const got = index.search(q('agents'), { limit: 10, offset: 0, since: '2026-11-22T10:00:00.000Z' });
    expect(got.hits.map((h) => h.paperId).sort()).toEqual(['a', 'c']);
    expect(got.total).toBe(2);
  });

  it('filters by first-seen time exactly as comparing the strings did, for any values and after re-adds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(5), fc.constantFrom('agents', 'agents plan', 'robots'), time), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.option(time, { nil: undefined }),
        fc.nat(3),
        (adds, since, offset) => {
          const papers = adds.map(([id, title, seen]) => paper(`p${id}`, title, seen));
          const index = new PagedIndex();
          // In two batches: a paper indexed again counts with its last first-seen value.
          index.add(papers.slice(0, papers.length >> 1));
          index.add(papers.slice(papers.length >> 1));
          const reference = createSearchIndex();
          const seen = new Map<string, string>();
          for (const p of papers) {
            reference.add(p);
            seen.set(p.id, p.firstSeen);
          }
          for (const text of ['agents', 'agents -plan', '/o/']) {
            const all = reference
              .search(q(text), { limit: 100 })
              .filter((h) => since === undefined || (seen.get(h.paperId) ?? '') >= since);
            expect(index.search(q(text), { limit: 2, offset, since }), text).toEqual({
              total: all.length,
              hits: all.slice(offset, offset + 2),
            });
          }
        },
      ),
      { numRuns: 500, seed: 11 },
    );
  });
});
