import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIEmbed, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import {
  DISCORD_LIMITS,
  type DigestItem,
  digestHeader,
  embedLength,
  escapeMarkdown,
  foldWord,
  formatAuthors,
  type MessagePayload,
  moreNotice,
  neutralizeMentions,
  packDigest,
  payloadNonce,
  renderPaperEmbed,
  renderText,
  textMessage,
} from '../../src/core/message.js';
import { newPaperId, type Paper } from '../../src/core/paper.js';

const META = { title: 'multi-task', date: '2026-11-22' };
const ZWSP = '\u200b';

type PaperOverrides = { [K in keyof Paper]?: Paper[K] | undefined };

/** A test paper; an override set to `undefined` removes the field. */
function paper(over: PaperOverrides = {}): Paper {
  const p: Record<string, unknown> = {
    id: 'arxiv:2411.17700',
    arxivId: '2411.17700',
    title: 'A Paper',
    abstract: 'We propose a thing. It works.',
    authors: ['Ada Lovelace', 'Alan Turing'],
    categories: ['cs.LG'],
    links: { code: [] },
    sources: ['test'],
    firstSeen: '2026-11-22T00:00:00Z',
    ...over,
  };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return p as unknown as Paper;
}

function item(over: Partial<DigestItem> = {}, p: PaperOverrides = {}): DigestItem {
  return { paper: paper(p), terms: [], subscriptionQueries: ['multi-task'], kind: 'new', ...over };
}

/** A paper whose embed is only title, description and footer: no links, no authors. */
function bare(tldr: string, title = 'T'): DigestItem {
  return {
    paper: paper({ id: 'fp:1', title, authors: [], categories: [], arxivId: undefined }),
    tldr,
    terms: [],
    subscriptionQueries: [],
    kind: 'new',
  };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every string Discord will count or render in an embed. */
function embedTexts(e: APIEmbed): string[] {
  return [
    e.title ?? '',
    e.description ?? '',
    ...(e.fields ?? []).flatMap((f) => [f.name, f.value]),
    e.footer?.text ?? '',
    e.author?.name ?? '',
  ];
}

/** Asserts every limit Discord enforces on one message body. */
function expectWithinLimits(body: RESTPostAPIChannelMessageJSONBody): void {
  expect(body.allowed_mentions).toEqual({ parse: [] });
  expect((body.content ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.content);
  const embeds = body.embeds ?? [];
  expect(embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedsPerMessage);
  expect(embeds.reduce((n, e) => n + embedLength(e), 0)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
  for (const e of embeds) {
    expect((e.title ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect((e.description ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect((e.footer?.text ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.footer);
    expect((e.fields ?? []).length).toBeLessThanOrEqual(DISCORD_LIMITS.fields);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeGreaterThan(0);
      expect(f.value.length).toBeGreaterThan(0);
      expect(f.name.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldValue);
    }
    if (e.description !== undefined) expect(e.description.length).toBeGreaterThan(0);
    for (const t of embedTexts(e)) {
      expect(t).not.toMatch(LONE_SURROGATE);
      expect(t).not.toMatch(/@(?:everyone|here)/i);
      expect(t).not.toMatch(/<@(?!\u200b)/);
    }
  }
  if (body.nonce !== undefined) expect(String(body.nonce).length).toBeLessThanOrEqual(DISCORD_LIMITS.nonce);
}

/**
 * The markup left after removing URLs and backslash escapes: our own `**` pairs
 * are allowed (and must pair up); any other marker came from paper text and was not escaped.
 */
function strayMarkup(rendered: string): string[] {
  // Discord's autolink: to the next space or "<", minus trailing punctuation.
  const plain = rendered.replace(/https?:\/\/[^\s<]*[^<.,:;"')\]\s]/g, '').replace(/\\./gs, '');
  const bold = plain.match(/\*\*/g)?.length ?? 0;
  const stray: string[] = plain.replace(/\*\*/g, '').match(/[*_~`|[\]]/g) ?? [];
  if (bold % 2 !== 0) stray.push('unpaired **');
  return stray;
}

describe('escapeMarkdown', () => {
  it.each([
    ['bold', '**bold**', '\\*\\*bold\\*\\*'],
    ['underline', '__u__', '\\_\\_u\\_\\_'],
    ['a masked link', '[x](https://evil.example)', '\\[x\\](https://evil.example)'],
    ['inline code', 'use `rm -rf`', 'use \\`rm -rf\\`'],
    ['a code block', '```js\nx```', '\\`\\`\\`js\n\\x\\`\\`\\`'.replace('\\x', 'x')],
    ['a spoiler', '||secret||', '\\|\\|secret\\|\\|'],
    ['strikethrough', '~~gone~~', '\\~\\~gone\\~\\~'],
    ['a heading', '# Big', '\\# Big'],
    ['subtext', '-# small', '\\-# small'],
    ['a quote', '> quoted', '\\> quoted'],
    ['a list', '- item', '\\- item'],
    ['a numbered list', '1. first', '1\\. first'],
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['@everyone', 'hi @everyone', `hi @${ZWSP}everyone`],
    ['@here', '@here now', `@${ZWSP}here now`],
    ['a user mention', '<@123>', `<@${ZWSP}123>`],
    ['a role mention', '<@&456>', `<@${ZWSP}&456>`],
    ['plain text', 'Attention Is All You Need', 'Attention Is All You Need'],
  ])('escapes %s', (_name, input, expected) => {
    expect(escapeMarkdown(input)).toBe(expected);
  });

  it('leaves URLs linkable (underscores and tildes inside a URL are not escaped)', () => {
    expect(escapeMarkdown('code: https://github.com/a_b/c~d now_ok')).toBe(
      'code: https://github.com/a_b/c~d now\\_ok',
    );
  });

  it('neutralises mentions only once', () => {
    const once = neutralizeMentions('<@1> @everyone');
    expect(neutralizeMentions(once)).toBe(once);
  });
});

describe('renderText: matched words in bold', () => {
  it.each([
    ['a whole word', 'Agents act.', ['agent'], '**Agents** act.'],
    ['case-insensitively', 'MULTITASK models', ['multitask'], '**MULTITASK** models'],
    ['a plural by S-stemming', 'Many policies.', ['policy'], 'Many **policies**.'],
    ['not part of a longer word', 'multitasking agents', ['multitask'], 'multitasking agents'],
    ['a hyphen compound by its joined form', 'a multi-task model', ['multitask'], 'a **multi-task** model'],
    [
      'a hyphenated term in any spelling',
      'multi task, multitask',
      ['multi-task'],
      '**multi task**, **multitask**',
    ],
    ['a phrase', 'a mixture of experts layer', ['mixture of experts'], 'a **mixture of experts** layer'],
    ['a prefix', 'robots and robotic arms', ['robot*'], '**robots** and **robotic** arms'],
    [
      'overlapping terms as one span',
      'multi-task learning',
      ['multitask', 'task'],
      '**multi-task** learning',
    ],
    ['nothing for a regex term', 'agents', ['/agent/'], 'agents'],
    ['paper markdown escaped around the bold', '**agents**', ['agent'], '\\*\\***agents**\\*\\*'],
    ['not inside a URL', 'see https://agents.dev/agent here', ['agent'], 'see https://agents.dev/agent here'],
  ])('bolds %s', (_name, text, terms, expected) => {
    expect(renderText(text, terms)).toBe(expected);
  });

  it.each([
    ['policies', 'policy'],
    ['agents', 'agent'],
    ['classes', 'classe'],
    ['status', 'status'],
    ['glass', 'glass'],
    ['s', 's'],
    ['series', 'sery'],
    ['toes', 'toe'],
  ])('folds %s to %s', (word, folded) => {
    expect(foldWord(word)).toBe(folded);
  });
});

describe('renderPaperEmbed', () => {
  it('shows the title linking to arXiv, the TL;DR in bold, authors, links and the matched query', () => {
    const e = renderPaperEmbed(
      item(
        { terms: ['thing'], subscriptionQueries: ['multi-task', 'thing'] },
        {
          version: 2,
          categories: ['cs.LG', 'cs.AI'],
          links: { hf: 'https://huggingface.co/papers/2411.17700', code: ['https://github.com/a/b'] },
        },
      ),
    );
    expect(e).toEqual({
      title: 'A Paper',
      url: 'https://arxiv.org/abs/2411.17700',
      description: 'We propose a **thing**.',
      fields: [
        { name: 'Authors', value: 'Ada Lovelace, Alan Turing' },
        {
          name: 'Links',
          value:
            '[PDF](https://arxiv.org/pdf/2411.17700) · [HF](https://huggingface.co/papers/2411.17700) · [GitHub](https://github.com/a/b)',
        },
      ],
      footer: { text: 'matched: multi-task | thing · arXiv:2411.17700v2 · cs.LG cs.AI' },
      color: 0x3b82f6,
    });
  });

  it('labels an update', () => {
    const e = renderPaperEmbed(item({ kind: 'update' }, { version: 3 }));
    expect(e.description).toBe('🔄 **Updated** (v3)\nWe propose a thing.');
    expect(e.footer?.text).toMatch(/^update · /);
  });

  it('links the HF page when there is no arXiv page', () => {
    const e = renderPaperEmbed(
      item(
        {},
        {
          arxivId: undefined,
          links: { hf: 'https://huggingface.co/papers/x', code: [] },
        },
      ),
    );
    expect(e.url).toBe('https://huggingface.co/papers/x');
    expect(e.fields?.find((f) => f.name === 'Links')).toBeUndefined();
  });

  it.each([
    ['**', 'Bold **claims**'],
    ['__', '__init__ considered harmful'],
    ['a masked link', '[Click](https://evil.example) me'],
    ['backticks', 'The `grep` paper ```'],
    ['a spoiler', '||hidden|| results'],
    ['a heading', '# Heading title'],
  ])('escapes %s in a title', (_name, title) => {
    const e = renderPaperEmbed(item({}, { title }));
    expect(strayMarkup(e.title ?? '')).toEqual([]);
    expect((e.title ?? '').replace(/\\(.)/g, '$1')).toBe(title);
  });

  it('keeps "@everyone" in an abstract as text', () => {
    const [msg] = packDigest([item({}, { abstract: 'We propose to ping @everyone and <@42>.' })], META);
    const body = msg?.body;
    expect(body?.allowed_mentions).toEqual({ parse: [] });
    expect(body?.embeds?.[0]?.description).toBe(`We propose to ping @${ZWSP}everyone and <@${ZWSP}42>.`);
  });

  it('shortens a long author list and counts the rest', () => {
    const authors = Array.from({ length: 40 }, (_, i) => `Author Number${i}`);
    const e = renderPaperEmbed(item({}, { authors }));
    const value = e.fields?.[0]?.value ?? '';
    expect(value).toBe(`${authors.slice(0, 8).join(', ')}, … +32`);
  });

  it('lists fewer authors when their names are long', () => {
    const authors = Array.from({ length: 5 }, (_, i) => `${'Long'.repeat(20)} ${i}`);
    const line = formatAuthors(authors, 300);
    expect(line.length).toBeLessThanOrEqual(300);
    expect(line).toMatch(/, … \+2$/);
  });

  it('escapes markdown in author names', () => {
    expect(formatAuthors(['A_B **C**'])).toBe('A\\_B \\*\\*C\\*\\*');
  });
});

describe('limits at their edges', () => {
  it.each([
    [256, false],
    [257, true],
  ])('a title of %i characters is cut: %s', (n, cut) => {
    const title = `${'word '.repeat(60)}${'x'.repeat(n)}`.slice(-n);
    const e = renderPaperEmbed(bare('tldr', title));
    expect(e.title?.length).toBeLessThanOrEqual(256);
    expect(e.title?.endsWith('…')).toBe(cut);
    if (!cut) expect(e.title).toBe(title);
  });

  it('cuts a title whose escapes push it over 256 without leaving a dangling backslash', () => {
    const e = renderPaperEmbed(bare('tldr', '*a '.repeat(100)));
    const title = e.title ?? '';
    expect(title.length).toBeLessThanOrEqual(256);
    expect(title).toMatch(/^(\\\*a )+\\\*a…$/);
  });

  it.each([
    [4096, false],
    [4097, true],
  ])('a description of %i characters is cut: %s', (n, cut) => {
    const tldr = `${'abcd '.repeat(900)}`.slice(0, n - 1).concat('z');
    const e = renderPaperEmbed(bare(tldr));
    expect(e.description?.length).toBeLessThanOrEqual(4096);
    expect(e.description?.endsWith('…')).toBe(cut);
    if (!cut) expect(e.description).toBe(tldr);
  });

  it.each([
    [1024, false],
    [1025, true],
  ])('an authors field of %i characters is cut: %s', (n, cut) => {
    const name = 'Ab '
      .repeat(400)
      .slice(0, n - 1)
      .concat('Z');
    const e = renderPaperEmbed(item({}, { authors: [name] }), { authorsMaxChars: 1024 });
    const value = e.fields?.[0]?.value ?? '';
    expect(value.length).toBeLessThanOrEqual(1024);
    expect(value.endsWith('…')).toBe(cut);
    if (!cut) expect(value).toBe(name);
  });

  it('an authors budget above 1024 is held to the field limit', () => {
    const name = 'Ab '.repeat(400);
    const e = renderPaperEmbed(item({}, { authors: [name] }), { authorsMaxChars: 5000 });
    expect(e.fields?.[0]?.value.length).toBeLessThanOrEqual(1024);
  });

  it.each([
    [2048, false],
    [2049, true],
  ])('a footer of %i characters is cut: %s', (n, cut) => {
    const query = 'q '
      .repeat(1100)
      .slice(0, n - 'matched: '.length - 1)
      .concat('z');
    const e = renderPaperEmbed({ ...bare('tldr'), subscriptionQueries: [query] });
    const footer = e.footer?.text ?? '';
    expect(footer.length).toBeLessThanOrEqual(2048);
    expect(footer.endsWith('…')).toBe(cut);
    if (!cut) expect(footer).toBe(`matched: ${query}`);
  });

  it('cuts the query, not the arXiv id, in a long footer', () => {
    const e = renderPaperEmbed(item({ subscriptionQueries: ['word '.repeat(600)] }));
    expect(e.footer?.text).toMatch(/^matched: (word )+word… · arXiv:2411\.17700 · cs\.LG$/);
    expect(e.footer?.text.length).toBeLessThanOrEqual(2048);
  });

  it.each([
    [10, [10]],
    [11, [10, 1]],
    [25, [10, 10, 5]],
  ])('%i small papers make messages of %j embeds', (n, sizes) => {
    const items = Array.from({ length: n }, (_, i) => item({}, { title: `Paper ${i}` }));
    const out = packDigest(items, META);
    expect(out.map((m) => m.body.embeds?.length)).toEqual(sizes);
  });

  /** Two embeds whose lengths add up to exactly `total`. */
  function pairTotalling(total: number): DigestItem[] {
    const first = bare('a '.repeat(1500).trim());
    const firstLen = embedLength(renderPaperEmbed(first));
    const probe = embedLength(renderPaperEmbed(bare('b')));
    const secondTldr = `${'b '.repeat(3000)}`.slice(0, total - firstLen - probe).concat('b');
    const pair = [first, bare(secondTldr)];
    expect(pair.map((i) => embedLength(renderPaperEmbed(i))).reduce((a, b) => a + b)).toBe(total);
    return pair;
  }

  it('puts two embeds totalling exactly 6000 characters in one message', () => {
    const out = packDigest(pairTotalling(6000), META);
    expect(out.map((m) => m.itemIndexes)).toEqual([[0, 1]]);
  });

  it('splits two embeds totalling 6001 characters into two messages', () => {
    const out = packDigest(pairTotalling(6001), META);
    expect(out.map((m) => m.itemIndexes)).toEqual([[0], [1]]);
  });

  it('truncates an embed that alone would exceed 6000 characters rather than dropping it', () => {
    const big = {
      ...bare('word '.repeat(900), 'title '.repeat(60)),
      subscriptionQueries: ['query '.repeat(400)],
    };
    big.paper.authors = Array.from({ length: 200 }, (_, i) => `Someone Named${i}`);
    const out = packDigest([big], META, { authorsMaxChars: 1024 });
    expect(out).toHaveLength(1);
    const e = out[0]?.body.embeds?.[0] as APIEmbed;
    expect(embedLength(e)).toBeLessThanOrEqual(6000);
    expect(embedLength(e)).toBeGreaterThan(5900);
    expect(e.description?.endsWith('…')).toBe(true);
    expect(e.title?.length).toBeGreaterThan(200);
  });

  it('counts an astral character as two and never splits one', () => {
    const e = renderPaperEmbed(bare('🧪'.repeat(3000), '🚀'.repeat(200)));
    expect(e.title?.length).toBeLessThanOrEqual(256);
    expect(e.description?.length).toBeLessThanOrEqual(4096);
    expect(e.title).not.toMatch(LONE_SURROGATE);
    expect(e.description).not.toMatch(LONE_SURROGATE);
    expect([...(e.title ?? '')].length).toBe(128);
  });

  it('honours a smaller per-message budget', () => {
    const items = Array.from({ length: 6 }, (_, i) => item({}, { title: `Paper ${i}` }));
    const out = packDigest(items, META, { maxEmbedsPerMessage: 4, maxEmbedChars: 500 });
    for (const m of out) {
      expect(m.body.embeds?.length).toBeLessThanOrEqual(4);
      expect((m.body.embeds ?? []).reduce((n, e) => n + embedLength(e), 0)).toBeLessThanOrEqual(500);
    }
    expect(out.flatMap((m) => m.itemIndexes)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('packDigest', () => {
  const items = Array.from({ length: 23 }, (_, i) =>
    item(
      { terms: ['thing'] },
      { id: `arxiv:2411.${17700 + i}`, arxivId: `2411.${17700 + i}`, title: `Paper ${i}` },
    ),
  );

  it('keeps the given order and reports which items each message carries', () => {
    const out = packDigest(items, META);
    expect(out.map((m) => m.itemIndexes)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
      [20, 21, 22],
    ]);
    expect(out.flatMap((m) => m.body.embeds?.map((e) => e.title))).toEqual(items.map((i) => i.paper.title));
  });

  it('is deterministic: the same items give byte-identical payloads and nonces', () => {
    const a = packDigest(items, META, { nonceScope: 'channel:1' });
    const b = packDigest(structuredClone(items), META, { nonceScope: 'channel:1' });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    for (const m of a) {
      expect(m.body.enforce_nonce).toBe(true);
      expect(String(m.body.nonce)).toMatch(/^pb[0-9a-f]{23}$/);
    }
    expect(new Set(a.map((m) => m.body.nonce)).size).toBe(a.length);
  });

  it('gives the same post to another channel another nonce', () => {
    const [m] = packDigest(items.slice(0, 1), META);
    const body = m?.body ?? {};
    expect(payloadNonce(body, 'channel:1')).not.toBe(payloadNonce(body, 'channel:2'));
    expect(payloadNonce(body, 'channel:1')).toBe(payloadNonce({ ...body, nonce: 'x' }, 'channel:1'));
  });

  it('changes the nonce when the content changes', () => {
    const [a] = packDigest(items.slice(0, 1), META);
    const [b] = packDigest([item({}, { title: 'Paper 0!' })], META);
    expect(payloadNonce(a?.body ?? {})).not.toBe(payloadNonce(b?.body ?? {}));
  });

  it('puts the digest header in the first message when asked, and only there', () => {
    const out = packDigest(items, META, { header: true });
    expect(out[0]?.body.content).toBe('📰 23 new papers for multi-task — 2026-11-22');
    expect(out.slice(1).every((m) => m.body.content === undefined)).toBe(true);
  });

  it('gives nothing to post for an empty digest', () => {
    expect(packDigest([], META)).toEqual([]);
  });

  it('packs every seed paper within every limit', () => {
    const SEEDS = join(import.meta.dirname, '../../seeds');
    const all: DigestItem[] = readdirSync(SEEDS)
      .sort()
      .flatMap((f) => {
        const r = parseDigest(readFileSync(join(SEEDS, f), 'utf8'));
        if (!r.ok) throw new Error(r.error);
        return r.papers.map((s) => ({
          paper: { ...s, id: newPaperId(s), sources: [f], firstSeen: '2026-11-22T00:00:00Z' },
          terms: ['multitask', 'agent', 'mixture of experts'],
          subscriptionQueries: ['multi-task OR agent*'],
          kind: 'new' as const,
        }));
      });
    const out = packDigest(all, META);
    for (const m of out) expectWithinLimits(m.body);
    expect(out.flatMap((m) => m.itemIndexes)).toEqual(all.map((_, i) => i));
    expect(out.length).toBe(Math.ceil(all.length / 10));
    for (const m of out)
      for (const e of m.body.embeds ?? []) expect(strayMarkup(e.description ?? '')).toEqual([]);
  });
});

describe('digestHeader and moreNotice', () => {
  it.each([
    [23, '📰 23 new papers for multi-task — 2026-11-22'],
    [1, '📰 1 new paper for multi-task — 2026-11-22'],
    [{ new: 3, update: 2 }, '📰 3 new papers and 2 updates for multi-task — 2026-11-22'],
    [{ new: 0, update: 1 }, '📰 1 update for multi-task — 2026-11-22'],
  ])('announces %j papers', (count, text) => {
    const h = digestHeader(META, count);
    expect(h.content).toBe(text);
    expect(h.threadName).toBe(text);
  });

  it('keeps the thread name within 100 characters and the date at its end', () => {
    const h = digestHeader({ title: `${'very long query '.repeat(20)}`, date: '2026-11-22' }, 5);
    expect(h.threadName.length).toBeLessThanOrEqual(100);
    expect(h.threadName).toMatch(/^📰 5 new papers for very long query .*… — 2026-11-22$/);
  });

  it('escapes markdown and mentions in the query shown in the header', () => {
    const h = digestHeader({ title: '**x** @everyone' }, 2);
    expect(h.content).toBe(`📰 2 new papers for \\*\\*x\\*\\* @${ZWSP}everyone`);
    expect(h.threadName).toBe(`📰 2 new papers for **x** @${ZWSP}everyone`);
  });

  it('says how many more papers there are and how to see them', () => {
    expect(moreNotice(12, '/paper search multi-task')).toBe(
      '…and 12 more papers: use `/paper search multi-task`',
    );
    expect(moreNotice(1)).toBe('…and 1 more paper.');
  });

  it('makes a plain message that cannot ping', () => {
    expect(textMessage('hello @here')).toEqual({
      content: `hello @${ZWSP}here`,
      allowed_mentions: { parse: [] },
    });
    expect(textMessage('word '.repeat(1000)).content?.length).toBeLessThanOrEqual(2000);
  });
});

describe('packDigest on random papers (property)', () => {
  const text = (max: number) =>
    fc.oneof(
      fc.string({ maxLength: max, unit: 'grapheme' }),
      fc.string({ maxLength: max, unit: 'binary' }),
      fc
        .array(
          fc.constantFrom(
            'word',
            'agents',
            'multi-task',
            '**',
            '__',
            '`',
            '||',
            '~~',
            '[x](https://e.x)',
            '@everyone',
            '<@123>',
            '# ',
            '> ',
            '\\',
            '😀',
            '👩‍👩‍👧',
            'https://github.com/a_b/c',
            ' ',
            '\n',
            'é',
          ),
          { maxLength: max / 4 },
        )
        .map((parts) => parts.join('')),
    );
  const randomItem: fc.Arbitrary<DigestItem> = fc
    .record({
      paper: fc
        .record({
          title: text(400),
          abstract: text(600),
          authors: fc.array(text(60), { maxLength: 60 }),
          categories: fc.array(fc.constantFrom('cs.LG', 'cs.AI', 'math.GT'), { maxLength: 5 }),
          arxivId: fc.option(fc.constantFrom('2411.17700', 'astro-ph/9812133'), { nil: undefined }),
          version: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
          code: fc.array(fc.webUrl(), { maxLength: 5 }),
        })
        .map((p): Paper => {
          const out: Paper = {
            id: 'x',
            title: p.title,
            abstract: p.abstract,
            authors: p.authors,
            categories: p.categories,
            links: { code: p.code },
            sources: ['s'],
            firstSeen: '2026-11-22T00:00:00Z',
          };
          if (p.arxivId !== undefined) out.arxivId = p.arxivId;
          if (p.version !== undefined) out.version = p.version;
          return out;
        }),
      tldr: fc.option(text(5000), { nil: undefined }),
      terms: fc.array(fc.constantFrom('agent', 'multitask', 'word', 'mixture of experts', 'rob*'), {
        maxLength: 3,
      }),
      subscriptionQueries: fc.array(text(600), { maxLength: 4 }),
      kind: fc.constantFrom('new' as const, 'update' as const),
    })
    .map(({ tldr, ...rest }): DigestItem => (tldr === undefined ? rest : { ...rest, tldr }));

  it('respects every limit and carries every item exactly once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(randomItem, { maxLength: 30 }),
        fc.option(text(2500), { nil: undefined }),
        (items, lead) => {
          const out: MessagePayload[] = packDigest(items, META, lead === undefined ? {} : { lead });
          for (const m of out) {
            expectWithinLimits(m.body);
            expect(m.body.embeds?.length ?? 0).toBe(m.itemIndexes.length);
            for (const e of m.body.embeds ?? []) {
              expect(strayMarkup(e.title ?? '')).toEqual([]);
              expect(strayMarkup(e.description ?? '')).toEqual([]);
            }
          }
          expect(out.flatMap((m) => m.itemIndexes)).toEqual(items.map((_, i) => i));
        },
      ),
      { numRuns: 150 },
    );
  });
});
