/** Every malformed query gets a message naming the problem and the column where it is. */
import { describe, expect, it } from 'vitest';
import { LIMITS, parseQuery } from '../../../src/core/query/index.js';

const CASES: ReadonlyArray<[query: string, message: string, column: number]> = [
  ['', 'empty query: type some words to look for at column 1', 1],
  ['   ', 'empty query: type some words to look for at column 1', 1],
  ['"abc', 'unclosed quote at column 1', 1],
  ['foo "bar', 'unclosed quote at column 5', 5],
  ['a OR', 'OR needs something on both sides at column 3', 3],
  ['OR a', 'OR needs something on both sides at column 1', 1],
  ['a OR OR b', 'OR needs something on both sides at column 3', 3],
  ['a | ', 'OR needs something on both sides at column 3', 3],
  ['| a', 'OR needs something on both sides at column 1', 1],
  ['a AND', 'AND needs something on both sides at column 3', 3],
  ['AND a', 'AND needs something on both sides at column 1', 1],
  ['a AND AND b', 'AND needs something on both sides at column 3', 3],
  ['a AND OR b', 'AND needs something on both sides at column 3', 3],
  ['(a', 'unclosed parenthesis at column 1', 1],
  ['((a) b', 'unclosed parenthesis at column 1', 1],
  ['a)', 'unmatched ) at column 2', 2],
  ['()', 'empty parentheses at column 1', 1],
  ['a ()', 'empty parentheses at column 3', 3],
  ['titel:x', 'unknown field "titel:" (did you mean title:?) at column 1', 1],
  ['auther:smith', 'unknown field "auther:" (did you mean author:?) at column 1', 1],
  ['xyz:foo', 'unknown field "xyz:" (fields: title, abstract, author, category, source) at column 1', 1],
  ['title:', 'title: needs a term, phrase or regex right after it at column 1', 1],
  ['title: foo', 'title: needs a term, phrase or regex right after it at column 1', 1],
  ['title:)', 'title: needs a term, phrase or regex right after it at column 1', 1],
  [
    'title:-foo',
    'title: needs a term, phrase or regex right after it (put - before the field) at column 1',
    1,
  ],
  [
    'title:abstract:x',
    'title: needs a term, phrase or regex right after it (put - before the field) at column 1',
    1,
  ],
  ['-', '- needs something after it at column 1', 1],
  ['a -', '- needs something after it at column 3', 3],
  ['NOT', 'NOT needs something after it at column 1', 1],
  ['a NOT', 'NOT needs something after it at column 3', 3],
  ['- a', '- must touch the word it excludes (write -word) at column 1', 1],
  ['/(ab/', 'invalid regex at column 1: missing )', 1],
  ['/[a/', 'invalid regex at column 1: missing ]', 1],
  ['/a**/', 'invalid regex at column 1: invalid nested repetition operator', 1],
  ['/abc', 'unclosed regex (add a closing /) at column 1', 1],
  ['/a/g', 'unknown regex flag "g" (only i is allowed) at column 4', 4],
  ['/a/x', 'unknown regex flag "x" (only i is allowed) at column 4', 4],
  ['//', 'empty regex at column 1', 1],
  ['""', 'empty phrase at column 1', 1],
  ['"  "', 'empty phrase at column 1', 1],
  ['"!!"', 'nothing to search for in the phrase "!!" at column 1', 1],
  ['x*', 'prefix "x*" is too short: at least 2 characters before * at column 1', 1],
  ['*', '* needs a prefix before it (e.g. robot*) at column 1', 1],
  ['*ab', '* only works at the end of a word (prefix*) at column 1', 1],
  ['a*b', '* only works at the end of a word (prefix*) at column 2', 2],
  ['ro*bot*', '* only works at the end of a word (prefix*) at column 3', 3],
  ['!!!', 'nothing to search for in "!!!": use letters or digits at column 1', 1],
  ['category:"cs CL"', 'category: takes a name like cs.CL or cs.*, not a phrase at column 10', 10],
  ['category:*', 'category: needs a name before * at column 10', 10],
  ['category:c*s', '* only works at the end of a name at column 11', 11],
  ['source:"x y"', 'source: takes a name like arxiv-cs-cl, not a phrase at column 8', 8],
  ['/a/b', 'unknown regex flag "b" (only i is allowed) at column 4', 4],
  ['"a"b', 'a phrase must be followed by a space or ) at column 4', 4],
  ['((((((((((( a )))))))))))', 'too deeply nested: at most 10 levels at column 11', 11],
  ['a OR (b', 'unclosed parenthesis at column 6', 6],
  ['foo:bar:baz', 'unknown field "foo:" (fields: title, abstract, author, category, source) at column 1', 1],
  ['a'.repeat(501), 'query too long: 501 characters (at most 500) at column 501', 501],
  [Array.from({ length: 51 }, (_, i) => `w${i}`).join(' '), 'too many terms: at most 50 at column 191', 191],
];

describe('malformed queries', () => {
  it('covers at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)('%j → %s', (query, message, column) => {
    const r = parseQuery(query);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toBe(message);
    expect(r.error.column).toBe(column);
    expect(r.error.message).toContain(`column ${column}`);
  });

  it('accepts the limits themselves: 500 characters, 50 terms, 10 levels', () => {
    expect(parseQuery('a'.repeat(LIMITS.length)).ok).toBe(true);
    expect(parseQuery(Array.from({ length: 50 }, (_, i) => `w${i}`).join(' ')).ok).toBe(true);
    expect(parseQuery(`${'('.repeat(10)}a${')'.repeat(10)}`).ok).toBe(true);
  });
});
