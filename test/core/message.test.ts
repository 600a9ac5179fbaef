import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import {
  type DigestItem,
  digestHeader,
  type Embed,
  embedLength,
  LIMITS,
  moreNotice,
  packDigest,
  paperEmbed,
} from '../../src/core/message.js';
import type { Paper } from '../../src/core/paper.js';
import { delatex, sentences, summarize, TLDR_MAX } from '../../src/core/summary.js';

function paper(extra: Partial<Paper> = {}): Paper {
  return {
    id: 'arxiv:2411.17700',
    arxivId: '2411.17700',
    version: 2,
    title: 'A paper',
    abstract: 'We propose a thing.',
    authors: ['Ada Lovelace'],
    categories: ['cs.LG'],
    links: { abs: 'https://arxiv.org/abs/2411.17700', pdf: 'https://arxiv.org/pdf/2411.17700', code: [] },
    sources: ['test'],
    firstSeen: '2026-11-22T00:00:00.000Z',
    ...extra,
  };
}

const item = (p: Paper, extra: Partial<DigestItem> = {}): DigestItem => ({
  paper: p,
  tldr: summarize(p.abstract),
  terms: [],
  subscriptionQueries: ['multi-task'],
  kind: 'new',
  ...extra,
});

function checkLimits(e: Embed): void {
  expect(e.title?.length ?? 0).toBeLessThanOrEqual(LIMITS.title);
  expect(e.description?.length ?? 0).toBeLessThanOrEqual(LIMITS.description);
  expect(e.footer?.text.length ?? 0).toBeLessThanOrEqual(LIMITS.footer);
  expect(e.fields?.length ?? 0).toBeLessThanOrEqual(LIMITS.fields);
  for (const f of e.fields ?? []) {
    expect(f.name.length).toBeLessThanOrEqual(LIMITS.fieldName);
    expect(f.value.length).toBeLessThanOrEqual(LIMITS.fieldValue);
  }
}

const SEEDS = join(import.meta.dirname, '../../seeds');
const seedAbstracts = readdirSync(SEEDS).flatMap((f) => {
  const r = parseDigest(readFileSync(join(SEEDS, f), 'utf8'));
  return r.ok ? r.papers.map((p) => p.abstract) : [];
});

describe('summaries', () => {
  it('picks the contribution sentence, else the first', () => {
    expect(summarize('Transformers are big. We propose SmallFormer, a tiny model. It works.')).toBe(
      'We propose SmallFormer, a tiny model.',
    );
    expect(summarize('Transformers are big. They work well.')).toBe('Transformers are big.');
    expect(summarize('In this work, we introduce XNet. It is fast.')).toBe(
      'In this work, we introduce XNet.',
    );
  });

  it('does not split at e.g., et al., decimals or URLs', () => {
    expect(
      sentences('Models (e.g. GPT) help. Smith et al. show 3.5 points at https://x.org/a.b today. End.'),
    ).toEqual([
      'Models (e.g. GPT) help.',
      'Smith et al. show 3.5 points at https://x.org/a.b today.',
      'End.',
    ]);
  });

  it('makes LaTeX readable', () => {
    expect(delatex('costs $O(n^2)$ with \\textbf{fast} \\alpha-decay and 5\\% \\cite{x}~more')).toBe(
      'costs O(n^2) with fast α-decay and 5% more',
    );
  });

  it('cuts a long sentence at a word boundary, within 280 characters', () => {
    const long = `We propose ${'wonderful '.repeat(60)}things.`;
    const s = summarize(long);
    expect(s.length).toBeLessThanOrEqual(TLDR_MAX);
    expect(s.endsWith('wonderful…')).toBe(true);
  });

  it(`gives every seed abstract (${seedAbstracts.length}) a TL;DR within the rules`, () => {
    expect(seedAbstracts.length).toBeGreaterThan(600);
    for (const a of seedAbstracts) {
      const s = summarize(a);
      expect(s.length).toBeGreaterThan(0);
      expect(s.length).toBeLessThanOrEqual(TLDR_MAX);
      expect(s).not.toMatch(/\$|\\[a-zA-Z]/);
      if (s.endsWith('…')) expect(s).toMatch(/[\p{L}\p{N})\]]…$/u);
      if (/\bwe (propose|introduce|present)\b/i.test(delatex(a)) && s.length < TLDR_MAX - 1) {
        expect(s).toMatch(
          /\b(propose|introduce|present|develop|release|design|build|construct|contribute|show|demonstrate)/i,
        );
      }
    }
  });
});

describe('Discord posts', () => {
  it('escapes markdown in titles and keeps mentions as text', () => {
    const e = paperEmbed(
      item(
        paper({
          title: '**Bold** _x_ `code` [link](http://x) @everyone',
          abstract: 'We propose @here pings <@123>.',
        }),
      ),
    );
    expect(e.title).toBe('\\*\\*Bold\\*\\* \\_x\\_ \\`code\\` \\[link\\]\\(http://x\\) @\u200beveryone');
    expect(e.description).toContain('@\u200bhere');
    expect(e.description).toContain('<\u200b@123');
    expect(e.description).not.toContain('<@123');
    const [first] = packDigest([item(paper())], { title: 'q', date: '2026-11-22' });
    expect(first?.body.allowed_mentions).toEqual({ parse: [] });
  });

  it('bolds the matched words in the TL;DR', () => {
    const e = paperEmbed(
      item(paper({ abstract: 'We propose multi-task agents for Agent learning.' }), {
        terms: ['multi-task', 'agent'],
      }),
    );
    expect(e.description).toBe('We propose **multi\\-task** **agents** for **Agent** learning.');
  });

  it.each([
    [256, 256],
    [257, 256],
  ])('keeps a %i-character title within 256', (n, max) => {
    const e = paperEmbed(item(paper({ title: 'x'.repeat(n) })));
    expect(e.title?.length).toBeLessThanOrEqual(max);
    if (n <= 256) expect(e.title).toBe('x'.repeat(n));
  });

  it('shortens long author lists and cuts every field at its limit', () => {
    const authors = Array.from({ length: 300 }, (_, i) => `Author Number ${i}`);
    const e = paperEmbed(
      item(
        paper({
          authors,
          links: { code: Array.from({ length: 80 }, (_, i) => `https://github.com/a/${'r'.repeat(30)}${i}`) },
        }),
      ),
    );
    checkLimits(e);
    expect(e.fields?.[0]?.value).toMatch(/… \+\d+$/);
  });

  it('puts exactly 10 embeds in a message, and an 11th in the next', () => {
    const ten = packDigest(
      Array.from({ length: 10 }, () => item(paper())),
      { title: 'q', date: 'd' },
    );
    expect(ten).toHaveLength(1);
    const eleven = packDigest(
      Array.from({ length: 11 }, () => item(paper())),
      { title: 'q', date: 'd' },
    );
    expect(eleven.map((m) => m.itemIndexes)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10]]);
  });

  it('starts a new message when the next embed would pass 6000 characters', () => {
    const big = (n: number) => item(paper(), { tldr: 'y'.repeat(n) });
    const one = embedLength(paperEmbed(big(0)));
    // Two embeds that together are exactly 6000 characters fit; one more character does not.
    const a = 3000 - one;
    const fits = packDigest([big(a), big(a)], { title: 'q', date: 'd' });
    expect(fits).toHaveLength(1);
    expect(fits[0]?.body.embeds?.reduce((n, e) => n + embedLength(e), 0)).toBe(6000);
    const over = packDigest([big(a), big(a + 1)], { title: 'q', date: 'd' });
    expect(over).toHaveLength(2);
  });

  it('trims a description over 4096 characters instead of dropping the paper', () => {
    const e = paperEmbed(item(paper(), { tldr: 'word '.repeat(2000) }));
    checkLimits(e);
    expect(embedLength(e)).toBeLessThanOrEqual(LIMITS.totalChars);
    expect(e.description?.endsWith('…')).toBe(true);
  });

  it('writes the thread header and the "more" notice', () => {
    expect(digestHeader({ title: 'multi-task', date: '2026-11-22' }, 23)).toEqual({
      content: '📰 23 new papers for multi-task — 2026-11-22',
      threadName: '23 new papers for multi-task — 2026-11-22',
    });
    expect(
      digestHeader({ title: 'q'.repeat(300), date: '2026-11-22' }, 2).threadName.length,
    ).toBeLessThanOrEqual(100);
    expect(moreNotice(12, 'see them with /paper search query:multi-task')).toBe(
      '…and 12 more matches: see them with /paper search query:multi-task',
    );
  });

  it('keeps every message within every limit and every paper in exactly one message (random papers)', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', ' ', '*', '_', '@', 'é', '🚀', '\n', 'Word', '-'),
      maxLength: 6000,
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            title: fc.string({ maxLength: 400 }),
            tldr: text,
            authors: fc.array(fc.string({ maxLength: 80 }), { maxLength: 60 }),
            terms: fc.array(fc.constantFrom('word', 'a', 'agents'), { maxLength: 3 }),
          }),
          { maxLength: 40 },
        ),
        (rows) => {
          const items = rows.map((r) =>
            item(paper({ title: r.title, authors: r.authors }), { tldr: r.tldr, terms: r.terms }),
          );
          const packed = packDigest(items, { title: 'q', date: 'd' });
          const seen = packed.flatMap((m) => m.itemIndexes);
          expect(seen).toEqual(items.map((_, i) => i));
          for (const m of packed) {
            const embeds = m.body.embeds ?? [];
            expect(embeds.length).toBeGreaterThan(0);
            expect(embeds.length).toBeLessThanOrEqual(LIMITS.embedsPerMessage);
            expect(embeds.reduce((n, e) => n + embedLength(e), 0)).toBeLessThanOrEqual(LIMITS.totalChars);
            for (const e of embeds) checkLimits(e);
          }
        },
      ),
      { numRuns: 150, seed: 42 },
    );
  });
});
