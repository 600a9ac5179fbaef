import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
const seed = (name: string) => readFileSync(join(SEEDS, name), 'utf8');
const seedFiles = readdirSync(SEEDS).sort();

describe('parseDigest on the seeds', () => {
  it.each([
    ['000_11b81690870823e2.txt', 'blank-separated', 106, '2025-09-01'],
    ['001_fa158a471daef1c5.txt', 'blank-separated', 85, undefined],
    ['002_80333a46690f23ed.txt', 'consecutive', 232, undefined],
    ['003_c63ee49f8c2010d6.txt', 'consecutive', 245, undefined],
  ])('parses %s as %s with %i papers', (file, layout, count, date) => {
    const r = parseDigest(seed(file), { referenceDate: new Date('2025-11-22T00:00:00Z') });
    if (!r.ok) throw new Error(r.error);
    expect(r.layout).toBe(layout);
    expect(r.papers).toHaveLength(count);
    expect(r.date).toBe(date);
    for (const p of r.papers) {
      expect(p.title.length).toBeGreaterThan(3);
      expect(p.abstract.length).toBeGreaterThan(p.title.length);
      expect(p.title).not.toMatch(/^Subscribe/);
    }
  });

  it('finds 668 entries in the four seeds', () => {
    const total = seedFiles
      .map((f) => parseDigest(seed(f)))
      .reduce((n, r) => n + (r.ok ? r.papers.length : 0), 0);
    expect(total).toBe(668);
  });

  it('unglues the first title from "Subscribe" in the consecutive layout', () => {
    const r = parseDigest(seed('002_80333a46690f23ed.txt'));
    if (!r.ok) throw new Error(r.error);
    expect(r.papers[0]?.title).toBe('On Distribution Shift in Learning-based Bug Detectors');
    expect(r.papers[0]?.abstract).toMatch(/^Deep learning has recently achieved initial success/);
  });

  it('keeps the first paper after the page date in the blank-separated layout', () => {
    const r = parseDigest(seed('000_11b81690870823e2.txt'), {
      referenceDate: new Date('2026-03-01T00:00:00Z'),
    });
    if (!r.ok) throw new Error(r.error);
    expect(r.date).toBe('2025-09-01');
    expect(r.papers[0]?.title).toBe(
      'The Natural Language Decathlon: Multitask Learning as Question Answering',
    );
    expect(r.papers[0]?.published).toBe('2025-09-01');
  });

  it('finds code links in abstracts', () => {
    const r = parseDigest(seed('001_fa158a471daef1c5.txt'));
    if (!r.ok) throw new Error(r.error);
    const stockformer = r.papers.find((p) => p.title.startsWith('Stockformer'));
    expect(stockformer?.links.code).toEqual(['https://github.com/Eric991005/Multitask-Stockformer']);
  });
});

const HEADER =
  'Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nby AK and the research community\n\n';
const ABSTRACT =
  'We study a thing carefully and find that it works better than the other thing in most cases.';

describe('parseDigest on other inputs', () => {
  it('accepts CRLF line endings and a BOM', () => {
    const r = parseDigest(`\uFEFF${HEADER}A Title\r\n\r\n${ABSTRACT}\r\n`.replace(/\n/g, '\r\n'));
    expect(r.ok && r.papers.map((p) => p.title)).toEqual(['A Title']);
  });

  it('rejects a hard-wrapped abstract rather than gluing lines together', () => {
    const r = parseDigest(
      `${HEADER}A Title\n\nWe study a thing\ncarefully and find that it works better than before.\n`,
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.error).toMatch(
        /line 9: "A Title" is not followed by an abstract \(found "We study a thing"\)/,
      );
  });

  it('reads a pair appended without blank lines to a blank-separated digest', () => {
    const r = parseDigest(`${HEADER}A Title\n\n${ABSTRACT}\nAnother Title\n${ABSTRACT}\n`);
    expect(r.ok && r.papers.map((p) => p.title)).toEqual(['A Title', 'Another Title']);
  });

  it('resolves a year-less date to the latest such day not after the reference date', () => {
    const text = `${HEADER}Dec 30\n\nA Title\n\n${ABSTRACT}\n`;
    const r = parseDigest(text, { referenceDate: new Date('2026-01-02T00:00:00Z') });
    expect(r.ok && r.date).toBe('2025-12-30');
  });

  it.each([
    ['a README', '# paperboy\n\nA Discord bot.\n', /not an HF Daily Papers digest/],
    ['an empty file', '', /not an HF Daily Papers digest/],
    ['a header only', HEADER, /no papers/],
    [
      'a title without abstract at the end',
      `${HEADER}A Title\n\n${ABSTRACT}\n\nLonely Title\n`,
      /line 13: title without an abstract/,
    ],
    [
      'two titles in a row',
      `${HEADER}A Title\n\nAnother Title\n\n${ABSTRACT}\n`,
      /line 9: "A Title" is not followed by an abstract/,
    ],
    [
      'a paragraph where a title belongs',
      `${HEADER}${ABSTRACT.repeat(6)}\n\n${ABSTRACT}\n`,
      /expected a paper title/,
    ],
  ])('rejects %s whole, naming the problem', (_name, text, message) => {
    const r = parseDigest(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
