import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCorpus, seedVocabulary, toArxivRss } from '../../bench/corpus.js';
import { decodeBody } from '../../src/core/charset.js';
import { type FeedParseResult, parseFeed, parseFeedWithRssParser } from '../../src/core/feed.js';
import { readFeedFast } from '../../src/core/feed-scan.js';

const FIXTURES = new URL('../fixtures/feeds/', import.meta.url);
const fixture = (name: string): string => decodeBody(new Uint8Array(readFileSync(new URL(name, FIXTURES))));

const opts = { sourceName: 'test' };

/** Both paths' results for one body: the fast reader's (with fallback) and rss-parser's alone. */
async function bothWays(body: string): Promise<[FeedParseResult, FeedParseResult]> {
  return [await parseFeed(body, opts), await parseFeedWithRssParser(body, opts)];
}

/** Whether the fast reader answers for a body, rather than handing it to rss-parser. */
const readsFast = (body: string): boolean => readFeedFast(body.replace(/^\uFEFF/, '')) !== undefined;

// The fixtures the fast reader must understand itself: every arXiv format and the plain generic feeds.
const FAST_FIXTURES = [
  'arxiv-api-atom.xml',
  'arxiv-api-error.xml',
  'arxiv-atom-math.xml',
  'arxiv-rss-empty-weekend.xml',
  'arxiv-rss-error.xml',
  'arxiv-rss1-rdf.xml',
  'arxiv-rss2-cs.xml',
  'generic-rss-gb2312.xml',
  'generic-rss-latin1.xml',
  'generic-rss2-journal.xml',
];

describe('the fast feed reader against rss-parser', () => {
  it.each(readdirSync(FIXTURES))('gives the same result for the fixture %s', async (name) => {
    const [fast, general] = await bothWays(fixture(name));
    expect(fast).toEqual(general);
  });

  it.each(FAST_FIXTURES)('reads %s itself', (name) => {
    expect(readsFast(fixture(name))).toBe(true);
  });

  // Items are read as they close (readFeedFast): which ones count must not change with that.
  const rss2 = (channels: string) => `<?xml version="1.0"?>\n<rss version="2.0">${channels}</rss>`;
  const item = (n: number, extra = '') =>
    `<item><title>Paper ${n}</title><link>https://example.org/p/${n}</link><guid>p${n}</guid>${extra}</item>`;
  it.each([
    [
      'two channels (only the first one counts)',
      rss2(`<channel><title>A</title>${item(1)}</channel><channel><title>B</title>${item(2)}</channel>`),
    ],
    ['an item outside the channel', rss2(`<channel><title>A</title>${item(1)}</channel>${item(2)}`)],
    ['a self-closing item', rss2(`<channel><title>A</title><item/>${item(1)}</channel>`)],
    ['an item nested in an item', rss2(`<channel><title>A</title>${item(1, item(2))}</channel>`)],
    [
      'RSS 1.0 items before their channel',
      `<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">${item(1)}<channel><title>A</title></channel>${item(2)}</rdf:RDF>`,
    ],
  ])('reads %s as rss-parser does', async (_what, body) => {
    expect(readsFast(body)).toBe(true);
    const [fast, general] = await bothWays(body);
    expect(fast).toEqual(general);
  });

  it('leaves a feed to rss-parser when an item it reads has markup in its description', async () => {
    const body = rss2(
      `<channel><title>A</title>${item(1)}${item(2, '<description><b>bold</b></description>')}</channel>`,
    );
    expect(readsFast(body)).toBe(false);
    const [fast, general] = await bothWays(body);
    expect(fast).toEqual(general);
  });

  it('leaves an Atom feed with XHTML content to rss-parser', () => {
    // rss-parser serialises <content type="xhtml"> back to markup; the fast reader does not.
    expect(readsFast(fixture('generic-atom.xml'))).toBe(false);
  });

  it('reads the benchmark corpus built from the seeds itself, with the same result', async () => {
    const vocab = seedVocabulary(join(import.meta.dirname, '../../seeds'));
    const feed = toArxivRss(makeCorpus(300, vocab), 'cs.LG');
    expect(readsFast(feed)).toBe(true);
    const [fast, general] = await bothWays(feed);
    expect(fast.ok && fast.papers.length).toBe(300);
    expect(fast).toEqual(general);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated feeds

// Pieces of element text, escaped as a feed would carry them: entities XML knows and HTML names
// it does not (which send the document to rss-parser), CDATA, comments, odd whitespace, non-ASCII.
const commonPiece = fc.constantFrom(
  'Sparse',
  'routing',
  ' ',
  '  ',
  '\n',
  '\n\n',
  '\r\n',
  '\t',
  '\u00a0',
  '\u2028',
  'é',
  'Müller',
  '张伟',
  '😀',
  '&amp;',
  '&lt;b&gt;bold&lt;/b&gt;',
  '&quot;q&quot;',
  '&apos;',
  '&amp;amp;',
  '&#233;',
  '&#xE9;',
  '&#X1F600;',
  '$k&lt;n$',
  '<![CDATA[a <b>raw</b> & part]]>',
  '<![CDATA[]]>',
  '<![CDATA[ ]]>',
  '<!-- note -->',
  ', ',
  ' and ',
  ' (Univ. of X, Y)',
  'Jr.',
  'https://github.com/example/code',
  'arXiv:2411.17700v2',
);
// Rare, so that most documents stay within what the fast reader reads itself.
const rarePiece = fc.constantFrom('&eacute;', '&nbsp;', '&#0233;', '&AMP;', '<?pi?>');
const textPiece = fc.oneof({ arbitrary: commonPiece, weight: 200 }, { arbitrary: rarePiece, weight: 1 });
const text = fc.array(textPiece, { maxLength: 8 }).map((ps) => ps.join(''));
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const date = fc.constantFrom(
  'Fri, 22 Nov 2024 00:00:00 -0500',
  ' Wed, 27 Nov 2024 00:00:00 +0000 ',
  '2024-11-27T08:30:00Z',
  'someday',
  '',
);
const arxivId = fc
  .tuple(fc.integer({ min: 1, max: 99999 }), fc.integer({ min: 1, max: 4 }))
  .map(([n, v]) => `2411.${String(n).padStart(5, '0')}v${v}`);

const itemArb = fc.record(
  {
    title: fc.oneof(
      text,
      fc.constantFrom(
        'Heavy leptons. (arXiv:1805.08875v2 [hep-ex] UPDATED)',
        'No usable id. (arXiv:bogus [hep-ph])',
        'Neutrinos (arXiv:1805.08467v1 [hep-ph] CROSS LISTED)',
      ),
    ),
    dcTitle: text,
    link: fc.oneof(fc.constant('https://arxiv.org/abs/2411.00001'), text),
    description: text,
    guid: fc.oneof(
      arxivId.map((id) => `oai:arXiv.org:${id}`),
      fc.constant('https://example.com/p/1'),
      text,
    ),
    guidAttr: fc.boolean(),
    categories: fc.array(fc.oneof(fc.constantFrom('cs.LG', 'cs.AI', ' stat.ML '), text), { maxLength: 3 }),
    categoryDomain: fc.boolean(),
    creators: fc.array(text, { maxLength: 3 }),
    subjects: fc.array(text, { maxLength: 2 }),
    author: text,
    date,
    dcDate: date,
    announce: fc.constantFrom('new', 'cross', 'replace', 'replace-cross', ' Replace ', 'bogus', ''),
    content: text,
  },
  { requiredKeys: [] },
);
type Item = typeof itemArb extends fc.Arbitrary<infer T> ? T : never;

const el = (name: string, value: string | undefined, attrs = ''): string =>
  value === undefined ? '' : `<${name}${attrs}>${value}</${name}>`;

function rss2Item(it: Item): string {
  return [
    '<item>',
    el('title', it.title),
    el('dc:title', it.dcTitle),
    el('link', it.link),
    el('description', it.description),
    el('guid', it.guid, it.guidAttr ? ' isPermaLink="false"' : ''),
    ...(it.categories ?? []).map((c) => el('category', c, it.categoryDomain ? " domain='arxiv'" : '')),
    el('pubDate', it.date),
    el('dc:date', it.dcDate),
    el('arxiv:announce_type', it.announce),
    ...(it.creators ?? []).map((c) => el('dc:creator', c)),
    ...(it.subjects ?? []).map((s) => el('dc:subject', s)),
    el('author', it.author),
    el('content:encoded', it.content),
    '</item>',
  ].join('\n  ');
}

function rss1Item(it: Item): string {
  const aboutUrl = it.guidAttr ? 'http://arxiv.org/abs/1805.99999v3' : it.link?.replace(/[<"]/g, '');
  const about = aboutUrl === undefined ? '' : ` rdf:about="${aboutUrl}"`;
  return [
    `<item${about}>`,
    el('title', it.title),
    el('dc:title', it.dcTitle),
    el('link', it.link),
    el('description', it.description),
    ...(it.creators ?? []).map((c) => el('dc:creator', c)),
    ...(it.subjects ?? []).map((s) => el('dc:subject', s)),
    el('dc:date', it.dcDate),
    '</item>',
  ].join('\n');
}

function atomEntry(it: Item): string {
  return [
    '<entry>',
    el('id', it.guid),
    el('title', it.title, it.guidAttr ? ' type="html"' : ''),
    it.link === undefined ? '' : `<link href="${it.link.replace(/[<"]/g, '')}" rel="alternate"/>`,
    '<link rel="related" href="https://example.com/pdf" title="pdf"/>',
    el('summary', it.description, it.categoryDomain ? ' type="html"' : ''),
    el('content', it.content),
    el('published', it.date),
    el('updated', it.dcDate),
    ...(it.creators ?? []).map(
      (c) => `<author>${el('name', c)}<arxiv:affiliation>X</arxiv:affiliation></author>`,
    ),
    ...(it.categories ?? []).map((c) => `<category term="${c.replace(/[<"&]/g, '')}" scheme="s"/>`),
    el('arxiv:announce_type', it.announce),
    '</entry>',
  ].join('\n');
}

const channelTitle = fc.oneof(
  fc.constantFrom('cs.LG updates on arXiv.org', 'Feed error for query: cs.XX', 'ArXiv Query: all:x', ''),
  text,
);
const feedArb = fc.record({
  format: fc.constantFrom('rss2', 'rss1', 'atom'),
  title: optional(channelTitle),
  dcTitle: optional(channelTitle),
  link: fc.constantFrom('http://rss.arxiv.org/rss/cs.LG', 'https://example.com/', 'not a url'),
  description: optional(text),
  items: fc.array(itemArb, { maxLength: 4 }),
});
type Feed = typeof feedArb extends fc.Arbitrary<infer T> ? T : never;

function render(f: Feed): string {
  const decl = "<?xml version='1.0' encoding='UTF-8'?>\n";
  if (f.format === 'rss2') {
    return `${decl}<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
<channel>
${el('title', f.title)}
${el('dc:title', f.dcTitle)}
${el('link', f.link)}
${el('description', f.description)}
<atom:link href="${f.link}/feed" rel="self" type="application/rss+xml"/>
<skipDays><day>Saturday</day><day>Sunday</day></skipDays>
${f.items.map(rss2Item).join('\n')}
</channel>
</rss>
`;
  }
  if (f.format === 'rss1') {
    return `${decl}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="${f.link}">
${el('title', f.title)}
${el('dc:title', f.dcTitle)}
${el('link', f.link)}
${el('description', f.description)}
<dc:date>2018-05-24T20:30:00-05:00</dc:date>
<items><rdf:Seq><rdf:li rdf:resource="x"/></rdf:Seq></items>
</channel>
${f.items.map(rss1Item).join('\n')}
</rdf:RDF>`;
  }
  return `${decl}<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
${el('title', f.title)}
<id>${f.link === 'not a url' ? 'http://arxiv.org/api/x' : f.link}</id>
<link href="${f.link}" rel="alternate"/>
${el('subtitle', f.description)}
${f.items.map(atomEntry).join('\n')}
</feed>`;
}

describe('generated feeds', () => {
  it('give the same result through the fast reader as through rss-parser', async () => {
    let fast = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(feedArb, async (f) => {
        const body = render(f);
        runs++;
        if (readsFast(body)) fast++;
        const [a, b] = await bothWays(body);
        expect(a).toEqual(b);
      }),
      { numRuns: 400 },
    );
    // The property means little if most documents went to rss-parser anyway.
    expect(fast / runs).toBeGreaterThan(0.3);
  });

  // Non-ASCII whitespace too: xml2js drops text that is JavaScript's `\s` only, which is more
  // than XML's four whitespace characters.
  it('give the same result when whitespace and comments surround every element', async () => {
    const pads = fc.constantFrom(' ', '\n\t', '<!-- x -->', '\r\n  ', '\u00a0', '\n\u2028 ', '\u3000\ufeff');
    await fc.assert(
      fc.asyncProperty(feedArb, pads, async (f, pad) => {
        const body = render(f).replace(/></g, `>${pad}<`);
        const [a, b] = await bothWays(body);
        expect(a).toEqual(b);
        // Blank text is blank to the fast reader too: it does not hand the feed over for it.
        expect(readsFast(body)).toBe(readsFast(render(f)));
      }),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Input the fast reader must leave alone

const good = fixture('arxiv-rss2-cs.xml');

describe('input the fast reader leaves to rss-parser', () => {
  it.each([
    ['a truncated feed', fixture('truncated.xml')],
    ['mismatched tags', fixture('invalid.xml')],
    ['an unknown entity', good.replace('<title>', '<title>&bogus;')],
    ['an HTML entity sax knows', good.replace('<title>', '<title>&eacute;')],
    ['a bare ampersand', good.replace('<title>', '<title>AT&T ')],
    ['a numeric reference to NUL', good.replace('<title>', '<title>&#0;')],
    ['an unquoted attribute', good.replace('isPermaLink="false"', 'isPermaLink=false')],
    ['a repeated attribute', good.replace('isPermaLink="false"', 'isPermaLink="false" isPermaLink="true"')],
    ['a DOCTYPE', good.replace('<rss', '<!DOCTYPE rss [<!ENTITY x "y">]>\n<rss')],
    ['text after the root', `${good}trailing`],
    ['a second root', `${good}<rss/>`],
    ['a malformed comment', good.replace('<channel>', '<channel><!-- a -- b -->')],
    ['mixed content in an item', good.replace('<item>', '<item>loose text')],
    ['a processing instruction inside the root', good.replace('<channel>', '<channel><?pi x?>')],
    [
      'a podcast feed',
      good.replace('<rss ', '<rss xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '),
    ],
    ['another root element', '<?xml version="1.0"?>\n<urlset><url/></urlset>'],
    [
      'a namespaced Atom root',
      '<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"><atom:title>x</atom:title></atom:feed>',
    ],
    ['an RSS root without a channel', '<rss version="2.0"><item><title>x</title></item></rss>'],
    ['a tag with a space after <', good.replace('<title>', '< title>')],
  ])('falls back on %s and answers as before', async (_what, body) => {
    expect(readsFast(body)).toBe(false);
    const [fast, general] = await bothWays(body);
    expect(fast).toEqual(general);
  });

  it.each([
    [
      'a truncated feed',
      fixture('truncated.xml'),
      'not a feed: invalid XML at line 23: Unclosed root tag (the body looks truncated)',
    ],
    ['mismatched tags', fixture('invalid.xml'), 'not a feed: invalid XML at line 5: Unexpected close tag'],
    [
      'an unknown entity',
      good.replace('<title>', '<title>&bogus;'),
      'not a feed: invalid XML at line 4: Invalid character entity',
    ],
  ])('still explains %s', async (_what, body, error) => {
    expect(await parseFeed(body, opts)).toEqual({ ok: false, error });
  });
});
