/**
 * Feed bodies → PaperSightings.
 *
 * Reads, from text already decoded by `decodeBody`:
 *  - arXiv's announcement feeds (rss.arxiv.org, 2024+), RSS 2.0 and Atom: versioned OAI GUIDs,
 *    an "arXiv:… Announce Type: …\nAbstract:" prefix on the description, `arxiv:announce_type`,
 *    comma-joined `dc:creator`; an empty feed on weekends and holidays; a "Feed error for
 *    query" channel for a bad category;
 *  - arXiv's old RSS 1.0 feeds: ids, versions and the primary category in a title suffix,
 *    authors as an HTML list of links;
 *  - the arXiv API's Atom (export.arxiv.org/api/query), whose errors are an entry titled "Error";
 *  - Hugging Face's daily papers JSON (huggingface.co/api/daily_papers);
 *  - any other RSS 2.0, RSS 1.0 or Atom feed, HTML descriptions included.
 *
 * Bad input is a value (`ok: false` with a reason a person can act on), never an exception.
 * Pure: no I/O. Well-formed RSS and Atom is read by feed-scan.ts, which gives what rss-parser
 * would; rss-parser (its `parseString`) reads everything else and explains malformed input.
 */
import type Parser from 'rss-parser';
import { z } from 'zod';
import { type RawFeed, readFeedFast } from './feed-scan.js';
import { anchorHrefs, decodeEntities, htmlToText, tidyParagraphs } from './html-text.js';
import {
  type AnnounceType,
  type ArxivRef,
  arxivLinks,
  detachText,
  findCodeLinks,
  normalizeSpace,
  type PaperLinks,
  type PaperSighting,
  parseArxivRef,
} from './paper.js';

/** What the body is expected to be. `auto` tells JSON from XML, and arXiv's feeds from others. */
export type FeedKind = 'auto' | 'rss' | 'atom' | 'arxiv-api' | 'hf-json';

export interface FeedParseOptions {
  /**
   * The configured source's name. Error texts do not repeat it: the caller, which knows the
   * URL too, adds both.
   */
  sourceName: string;
  /**
   * `hf-json` reads the body as Hugging Face JSON and `arxiv-api` reads Atom entries as arXiv
   * API results; `rss` and `atom` are hints only: either XML format is read.
   */
  kind?: FeedKind;
}

export type FeedParseResult =
  | { ok: true; status: 'papers'; title?: string; papers: PaperSighting[] }
  /** A valid arXiv announcement feed without entries: arXiv announces nothing on weekends and holidays. */
  | { ok: true; status: 'no-announcement'; title?: string; papers: [] }
  /** A source error a person can act on (a bad category, an HTML page instead of a feed, …). */
  | { ok: false; error: string };

type Failure = Extract<FeedParseResult, { ok: false }>;

function fail(error: string): Failure {
  return { ok: false, error };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Parses a decoded feed body into sightings. Never throws: malformed input, an HTML page, an
 * arXiv error feed or a JSON document of the wrong shape give `ok: false`.
 */
export async function parseFeed(text: string, opts: FeedParseOptions): Promise<FeedParseResult> {
  return parseFeedWith(text, opts, true);
}

/**
 * {@link parseFeed} with rss-parser reading every XML document, the fast reader never tried: the
 * reference that tests and benchmarks compare the fast reader against.
 */
export async function parseFeedWithRssParser(text: string, opts: FeedParseOptions): Promise<FeedParseResult> {
  return parseFeedWith(text, opts, false);
}

async function parseFeedWith(text: string, opts: FeedParseOptions, fast: boolean): Promise<FeedParseResult> {
  try {
    const kind = opts.kind ?? 'auto';
    const unmarked = text.replace(/^\uFEFF/, '');
    const body = unmarked.trimStart();
    if (body === '') return fail('not a feed: the body is empty');
    const looksJson = body.startsWith('[') || body.startsWith('{');
    if (kind === 'hf-json') {
      return looksJson ? parseHfDailyPapers(body) : fail(`not Hugging Face JSON: ${describeNonJson(body)}`);
    }
    if (looksJson) {
      if (kind === 'auto') return parseHfDailyPapers(body);
      return fail(`not a feed: got JSON where ${kind === 'atom' ? 'Atom' : 'RSS or Atom'} XML was expected`);
    }
    const html = describeHtmlPage(body);
    if (html !== undefined) return fail(`not a feed: ${html}`);
    // The untrimmed text, so that line numbers in XML errors match the document.
    return await parseXmlFeed(unmarked, kind, fast);
  } catch (e) {
    // Only a bug in this module gets here; the source is still reported rather than crashing a cycle.
    return fail(`could not read the feed: ${errorMessage(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Recognising what is not a feed

const HTML_START = /^(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html\b|html\b)/i;

/** "got an HTML page ("Page title")" when the body is HTML, else undefined. */
function describeHtmlPage(body: string): string | undefined {
  if (!HTML_START.test(body)) return undefined;
  const title = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(body)?.[1];
  const shown = title === undefined ? '' : normalizeSpace(htmlToText(title));
  return shown === '' ? 'got an HTML page' : `got an HTML page ("${truncate(shown, 120)}")`;
}

function describeNonJson(body: string): string {
  const html = describeHtmlPage(body);
  if (html !== undefined) return html;
  return body.startsWith('<') ? 'the body is XML' : `the body starts with "${truncate(body, 40)}"`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** The first element's name, skipping the declaration, comments, a DOCTYPE and PIs. */
function rootElementName(body: string): string | undefined {
  const m =
    /^(?:\s*(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>))*\s*<([A-Za-z_][\w:.-]*)/i.exec(
      body,
    );
  return m?.[1];
}

/** Turns rss-parser's (xml2js/sax's) error into a sentence with a 1-based line number. */
function describeXmlError(e: unknown, body: string): string {
  const msg = errorMessage(e);
  if (/^Feed not recognized/i.test(msg)) {
    const root = rootElementName(body);
    return root === undefined
      ? 'not a feed: the XML is neither RSS nor Atom'
      : `not a feed: the XML is neither RSS nor Atom (its root element is <${root}>)`;
  }
  if (/^Unable to parse XML/i.test(msg)) return 'not a feed: no XML content';
  // sax reports "Reason\nLine: n\nColumn: m\nChar: c" with a 0-based line.
  const m = /^([^\n]*)\nLine: (\d+)/.exec(msg);
  if (m) {
    const reason = m[1] ?? 'parse error';
    const hint = /unclosed root tag/i.test(reason) ? ' (the body looks truncated)' : '';
    return `not a feed: invalid XML at line ${Number(m[2]) + 1}: ${reason}${hint}`;
  }
  return `not a feed: invalid XML: ${normalizeSpace(msg)}`;
}

// ---------------------------------------------------------------------------------------------
// XML feeds

type Raw = Record<string, unknown>;

// A fresh object per parser: rss-parser's constructor writes defaults into the options it gets.
const parserOptions = (): Parser.ParserOptions<Raw, Raw> => ({
  // Channels without a version attribute are read as RSS 2.0 rather than rejected.
  defaultRSS: 2,
  xml2js: {
    // rss-parser converts Atom <published>/<updated> with `new Date(…).toISOString()`, which
    // throws on a malformed date and loses the whole feed. Renamed, it never sees them; they
    // are read below as custom fields and a bad date only loses that entry's date.
    tagNameProcessors: [
      (name: string) => (name === 'published' || name === 'updated' ? `atom-${name}` : name),
    ],
  },
  customFields: {
    feed: ['subtitle', 'id', 'dc:date'],
    item: [
      'description',
      'summary',
      'id',
      ['atom-published', 'published'],
      ['atom-updated', 'updated'],
      'content:encoded',
      ['arxiv:announce_type', 'announceType'],
      ['arxiv:primary_category', 'primaryCategory'],
      // Arrays kept whole: rss-parser keeps only the first of repeated elements.
      ['dc:creator', 'dcCreators', { keepArray: true }],
      ['dc:subject', 'dcSubjects', { keepArray: true }],
      ['category', 'rawCategories', { keepArray: true }],
      ['author', 'rawAuthors', { keepArray: true }],
      ['link', 'rawLinks', { keepArray: true }],
    ],
  },
});

/** rss-parser's reading of a document; its errors explained. */
async function readWithRssParser(body: string): Promise<{ ok: true; feed: RawFeed } | Failure> {
  // Loaded on first use: the fast reader reads nearly every feed, and rss-parser with xml2js
  // costs ~7 MB of RSS. One parser per call: xml2js keeps per-document state on its parser.
  const { default: RssParser } = await import('rss-parser');
  const parser = new RssParser<Raw, Raw>(parserOptions());
  try {
    return { ok: true, feed: (await parser.parseString(body)) as RawFeed };
  } catch (e) {
    return fail(describeXmlError(e, body));
  }
}

async function parseXmlFeed(body: string, kind: FeedKind, fast: boolean): Promise<FeedParseResult> {
  // The fast reader answers for the documents it fully understands, rss-parser for the rest.
  let feed = fast ? readFeedFast(body) : undefined;
  if (feed === undefined) {
    const read = await readWithRssParser(body);
    if (!read.ok) return read;
    feed = read.feed;
  }

  const title = feedTitle(feed);
  const items = Array.isArray(feed.items) ? feed.items : [];

  if (title !== undefined && /^Feed error for query\b/i.test(title))
    return arxivFeedError(title, feed, items);

  const api = kind === 'arxiv-api' || isArxivApiFeed(feed, items);
  if (api) {
    const apiError = items.find(isArxivApiError);
    if (apiError) {
      const why = textOf(apiError.summary) ?? textOf(apiError.id) ?? 'unknown error';
      return fail(`arXiv API error: ${normalizeSpace(why)}`);
    }
  }

  // RSS 1.0 items carry no date; the channel's dc:date is the day of the listing.
  const channelDate = toIsoDate(textOf(feed['dc:date']));
  const papers: PaperSighting[] = [];
  for (const item of items) {
    const s = api ? fromApiEntry(item) : fromItem(item, channelDate);
    if (s) papers.push(s);
  }

  const titled = title === undefined ? {} : { title };
  if (items.length === 0 && !api && isArxivListing(feed, title)) {
    return { ok: true, status: 'no-announcement', ...titled, papers: [] };
  }
  return { ok: true, status: 'papers', ...titled, papers };
}

function feedTitle(feed: Raw): string | undefined {
  const t = textOf(feed.title);
  if (t === undefined) return undefined;
  const clean = normalizeSpace(htmlToText(t));
  return clean === '' ? undefined : clean;
}

function arxivFeedError(title: string, feed: Raw, items: Raw[]): Failure {
  const first = items[0];
  const candidates = [
    textOf(feed.description),
    textOf(feed.subtitle),
    first && textOf(first.title),
    first && (textOf(first.description) ?? textOf(first.summary)),
  ];
  const why = [
    ...new Set(candidates.map((c) => (c === undefined ? '' : normalizeSpace(htmlToText(c))))),
  ].filter((c) => c !== '' && c !== title);
  return fail(`arXiv feed error: ${title}${why.length > 0 ? ` — ${why.join(' — ')}` : ''}`);
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

function isArxivHost(url: string | undefined): boolean {
  const host = hostOf(url);
  return host !== undefined && /(?:^|\.)arxiv\.org$/.test(host);
}

/** The arXiv API's own feed: `<id>http://arxiv.org/api/…</id>`, "ArXiv Query: …" title. */
function isArxivApiFeed(feed: Raw, items: Raw[]): boolean {
  const id = textOf(feed.id);
  if (id !== undefined && /^https?:\/\/(?:export\.)?arxiv\.org\/api\//i.test(id)) return true;
  if (/^ArXiv Query:/i.test(textOf(feed.title) ?? '')) return true;
  return items.some(isArxivApiError);
}

function isArxivApiError(item: Raw): boolean {
  return /arxiv\.org\/api\/errors/i.test(textOf(item.id) ?? '');
}

/** A daily listing from rss.arxiv.org (or the old arxiv.org/rss), as opposed to any other feed. */
function isArxivListing(feed: Raw, title: string | undefined): boolean {
  if (title !== undefined && /\bupdates on arXiv\.org$/i.test(title)) return true;
  return isArxivHost(textOf(feed.link)) || isArxivHost(textOf(feed.feedUrl));
}

// ---------------------------------------------------------------------------------------------
// Reading xml2js values

/** Text of an xml2js value: a string, `{ _: text }` for an element with attributes, or the first of an array. */
function textOf(v: unknown): string | undefined {
  if (Array.isArray(v)) return textOf(v[0]);
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object') {
    const inner = (v as Raw)._;
    if (typeof inner === 'string') return inner;
  }
  return undefined;
}

function attrsOf(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object') return {};
  const attrs = (v as Raw).$;
  return attrs !== null && typeof attrs === 'object' ? (attrs as Record<string, string>) : {};
}

function asArray(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function nonEmpty(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  return t === '' ? undefined : t;
}

/** `values` without repeats, in order: a new array. */
function unique(values: readonly string[]): string[] {
  // A paper's authors and categories are a handful: a scan of what is kept beats building a Set.
  if (values.length > 16) return [...new Set(values)];
  const out: string[] = [];
  for (const v of values) if (!out.includes(v)) out.push(v);
  return out;
}

/** Category names: `<category>cs.LG</category>` (RSS) or `<category term="cs.LG"/>` (Atom). */
function categoriesOf(item: Raw): string[] {
  const out: string[] = [];
  for (const c of asArray(item.rawCategories)) {
    const name = nonEmpty(textOf(c)) ?? nonEmpty(attrsOf(c).term);
    if (name !== undefined) out.push(normalizeSpace(decodeEntities(name)));
  }
  for (const s of asArray(item.dcSubjects)) {
    const name = nonEmpty(textOf(s));
    if (name !== undefined) out.push(normalizeSpace(name));
  }
  return unique(out);
}

// The items of a listing share one date: the last one read is parsed once, not per item (kept
// as a copy: a slice of the document would keep the whole document alive until the next feed).
let lastDate: { value: string; iso: string | undefined } | undefined;

function toIsoDate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (lastDate?.value === value) return lastDate.iso;
  const trimmed = value.trim();
  const t = trimmed === '' ? Number.NaN : Date.parse(trimmed);
  const iso = Number.isNaN(t) ? undefined : new Date(t).toISOString();
  lastDate = { value: detachText(value), iso };
  return iso;
}

function publishedOf(item: Raw): string | undefined {
  return (
    toIsoDate(textOf(item.published)) ??
    toIsoDate(textOf(item.updated)) ??
    toIsoDate(textOf(item.isoDate)) ??
    toIsoDate(textOf(item.pubDate))
  );
}

const ANNOUNCE_TYPES: readonly AnnounceType[] = ['new', 'cross', 'replace', 'replace-cross'];

function asAnnounceType(v: string | undefined): AnnounceType | undefined {
  const t = v?.trim().toLowerCase();
  return ANNOUNCE_TYPES.find((a) => a === t);
}

// ---------------------------------------------------------------------------------------------
// Authors

// A part that is only a generational suffix belongs to the name before it ("King, Jr.").
const NAME_SUFFIX = /^(?:Jr|Sr)\.?$|^(?:II|III|IV)$/;

/** What separates the names of a joined author list (see {@link splitAuthorList}). */
const AUTHOR_SEPARATOR = /\s*[,;]\s*(?:and\s+)?|\s+and\s+/g;

/**
 * Splits a joined author list ("A. One, B. Two and C. Three") into names. Separators are
 * commas, semicolons and the word "and", but not inside parentheses, where arXiv puts
 * affiliations ("Mei Tanaka (University of Tokyo, RIKEN)"); "and" inside a name
 * ("Sandra Andersen") is not a separator.
 */
export function splitAuthorList(text: string): string[] {
  const source = normalizeSpace(text);
  // Mask bracketed text so separators inside it are invisible to the split below.
  const masked = /[([]/.test(source) ? maskBrackets(source) : source;
  const out: string[] = [];
  const separator = AUTHOR_SEPARATOR;
  separator.lastIndex = 0;
  let start = 0;
  for (;;) {
    const m = separator.exec(masked);
    const raw = source.slice(start, m ? m.index : source.length);
    const name = (raw.startsWith('and') ? raw.replace(/^and\s+/, '') : raw).trim();
    if (name !== '') {
      const prev = out.length - 1;
      // Every suffix is at most three characters: most names skip the test.
      if (name.length <= 3 && prev >= 0 && NAME_SUFFIX.test(name)) out[prev] = `${out[prev]}, ${name}`;
      else out.push(name);
    }
    if (!m) return out;
    start = m.index + m[0].length;
  }
}

/** `text` with every character inside (…) or […] replaced by `_`, offsets unchanged. */
function maskBrackets(text: string): string {
  let depth = 0;
  let masked = '';
  for (const ch of text) {
    if (ch === '(' || ch === '[') depth++;
    masked += depth > 0 ? '_'.repeat(ch.length) : ch;
    if ((ch === ')' || ch === ']') && depth > 0) depth--;
  }
  return masked;
}

/** Names from RSS `<author>`, which is "email (Name)" by the spec and often just a name. */
function nameFromRssAuthor(value: string): string {
  const m = /^\s*\S+@\S+\s*\(([^)]+)\)\s*$/.exec(value);
  return normalizeSpace(m?.[1] ?? value);
}

/** Authors of a non-arXiv item: one per `dc:creator` or Atom `<author>`, never comma-split. */
function genericAuthors(item: Raw): string[] {
  const out: string[] = [];
  // Journals write "Okonkwo, Chidi": a comma in one creator element is not a separator.
  for (const c of asArray(item.dcCreators)) {
    const name = nonEmpty(textOf(c));
    if (name !== undefined) out.push(normalizeSpace(htmlToText(name)));
  }
  if (out.length === 0) {
    for (const a of asArray(item.rawAuthors)) {
      const name =
        typeof a === 'string' || (a !== null && typeof a === 'object' && '_' in a)
          ? nameFromRssAuthor(textOf(a) ?? '')
          : normalizeSpace(textOf((a as Raw | null)?.name) ?? '');
      if (name !== '') out.push(name);
    }
  }
  return unique(out.filter((n) => n !== ''));
}

// ---------------------------------------------------------------------------------------------
// Sightings

interface SightingParts {
  ref: ArxivRef | undefined;
  title: string;
  abstract: string;
  authors: string[];
  categories: string[];
  published: string | undefined;
  announceType?: AnnounceType | undefined;
  /** The item's own page, for sightings without an arXiv id. */
  pageUrl?: string | undefined;
  /** Extra code URLs (HF's githubRepo, code-host links in HTML) ahead of those in the abstract. */
  extraCode?: string[];
  hfId?: string | undefined;
}

function buildSighting(p: SightingParts): PaperSighting | undefined {
  if (p.title === '') return undefined;
  const found = findCodeLinks(p.abstract);
  const links: PaperLinks = { code: p.extraCode?.length ? unique([...p.extraCode, ...found]) : found };
  if (p.ref) {
    const { abs, pdf } = arxivLinks(p.ref.id);
    links.abs = abs;
    links.pdf = pdf;
  } else if (p.pageUrl !== undefined) {
    links.abs = p.pageUrl;
  }
  if (p.hfId !== undefined) links.hf = `https://huggingface.co/papers/${p.hfId}`;
  const s: PaperSighting = {
    title: p.title,
    abstract: p.abstract,
    authors: p.authors,
    categories: p.categories,
    links,
  };
  if (p.ref) {
    s.arxivId = p.ref.id;
    if (p.ref.version !== undefined) s.version = p.ref.version;
  }
  if (p.published !== undefined) s.published = p.published;
  if (p.announceType !== undefined) s.announceType = p.announceType;
  return s;
}

/** An RSS item or Atom entry: arXiv announcement, old arXiv RSS 1.0, or anything else. */
function fromItem(item: Raw, channelDate: string | undefined): PaperSighting | undefined {
  const guid = textOf(item.guid) ?? textOf(item.id);
  if (textOf(item.announceType) !== undefined || /^oai:arxiv\.org:/i.test(guid?.trim() ?? '')) {
    return fromAnnouncement(item);
  }
  if (RSS1_SUFFIX.test(textOf(item.title) ?? '')) return fromRss1Item(item, channelDate);
  return fromGenericItem(item);
}

// "arXiv:2411.17700v2 Announce Type: replace \nAbstract: …" (rss.arxiv.org RSS and Atom)
const ANNOUNCE_PREFIX = /^\s*arXiv:(\S+)\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?/i;

/** An item of rss.arxiv.org's RSS 2.0 or Atom feed. */
function fromAnnouncement(item: Raw): PaperSighting | undefined {
  const guid = textOf(item.guid) ?? textOf(item.id);
  const description = textOf(item.description) ?? textOf(item.summary) ?? textOf(item.content) ?? '';
  const prefix = ANNOUNCE_PREFIX.exec(description);
  // The GUID carries the version (oai:arXiv.org:2411.17700v2); the link does not.
  const ref =
    parseArxivRef(guid) ??
    (prefix ? parseArxivRef(`arXiv:${prefix[1]}`) : undefined) ??
    parseArxivRef(linkOf(item));
  const creators = asArray(item.dcCreators).flatMap((c) => splitAuthorList(textOf(c) ?? ''));
  return buildSighting({
    ref,
    title: normalizeSpace(textOf(item.title) ?? ''),
    abstract: tidyParagraphs(prefix ? description.slice(prefix[0].length) : description),
    authors: unique(creators.length > 0 ? creators : genericAuthors(item)),
    categories: categoriesOf(item),
    published: publishedOf(item),
    announceType: asAnnounceType(textOf(item.announceType)) ?? asAnnounceType(prefix?.[2]),
    pageUrl: linkOf(item),
  });
}

// "… at Belle. (arXiv:1805.08875v2 [hep-ex] UPDATED)"; version-less ids occur in old feeds.
const RSS1_SUFFIX = /\.?\s*\(arXiv:(\S+?)\s*\[([^\]]+)\](?:\s+(UPDATED|CROSS LISTED))?\)\s*$/;

/** An item of arXiv's pre-2024 RSS 1.0 feed (export.arxiv.org/rss/<category>). */
function fromRss1Item(item: Raw, channelDate: string | undefined): PaperSighting | undefined {
  const rawTitle = textOf(item.title) ?? '';
  const m = RSS1_SUFFIX.exec(rawTitle);
  const ref =
    (m ? parseArxivRef(`arXiv:${m[1]}`) : undefined) ??
    parseArxivRef(textOf(item['rdf:about'])) ??
    parseArxivRef(linkOf(item));
  const creatorHtml = asArray(item.dcCreators)
    .map((c) => textOf(c) ?? '')
    .join(', ');
  // Each author is a link to an arXiv author search: <a href="…">Name</a>, <a …>Name</a>
  const anchored = [...creatorHtml.matchAll(/<a\b[^>]*>([\s\S]*?)<\/a\s*>/gi)].map((a) =>
    normalizeSpace(htmlToText(a[1] ?? '')),
  );
  const authors = anchored.length > 0 ? anchored : splitAuthorList(htmlToText(creatorHtml));
  const primary = m?.[2]?.trim();
  return buildSighting({
    ref,
    // The old feed appended ". (arXiv:…)" to every title; the period is not part of it.
    title: normalizeSpace(m ? rawTitle.slice(0, m.index) : rawTitle),
    abstract: htmlToText(textOf(item.description) ?? textOf(item.content) ?? ''),
    authors: unique(authors.filter((a) => a !== '')),
    categories: primary ? [primary] : categoriesOf(item),
    published: publishedOf(item) ?? channelDate,
    announceType: m?.[3] === 'UPDATED' ? 'replace' : m?.[3] === 'CROSS LISTED' ? 'cross' : 'new',
    pageUrl: linkOf(item),
  });
}

// arXiv category names: cs.LG, hep-th, math.GT, cond-mat.mes-hall, q-bio.NC, physics.optics.
const ARXIV_CATEGORY = /^[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?$/;

/** An entry of the arXiv API's Atom feed. */
function fromApiEntry(item: Raw): PaperSighting | undefined {
  const ref = parseArxivRef(textOf(item.id)) ?? parseArxivRef(linkOf(item));
  if (!ref) return fromGenericItem(item);
  const primary = nonEmpty(attrsOf(item.primaryCategory).term);
  // The API also lists ACM ("I.2.7") and MSC ("57M27; 57R58") classes as <category>.
  const categories = unique([...(primary ? [primary] : []), ...categoriesOf(item)]).filter((c) =>
    ARXIV_CATEGORY.test(c),
  );
  const authors = asArray(item.rawAuthors)
    .map((a) => normalizeSpace(textOf((a as Raw | null)?.name) ?? ''))
    .filter((a) => a !== '');
  return buildSighting({
    ref,
    title: normalizeSpace(textOf(item.title) ?? ''),
    abstract: tidyParagraphs(textOf(item.summary) ?? ''),
    authors: unique(authors),
    categories,
    // <published> is v1's submission time, the paper's publication date.
    published: publishedOf(item),
  });
}

// Hosts whose links in an HTML description are code, even when the visible text is "the code".
const CODE_HOSTS = /(?:^|\.)(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org|huggingface\.co)$/;

/** Any other feed's item: a blog post, a journal article, an aggregator's entry. */
function fromGenericItem(item: Raw): PaperSighting | undefined {
  const link = linkOf(item);
  const guid = textOf(item.guid) ?? textOf(item.id);
  const ref = parseArxivRef(link) ?? parseArxivRef(guid);
  const html =
    nonEmpty(textOf(item.description)) ??
    nonEmpty(textOf(item.summary)) ??
    nonEmpty(textOf(item['content:encoded'])) ??
    nonEmpty(textOf(item.content)) ??
    '';
  const codeHrefs = anchorHrefs(html).filter((href) => {
    const host = hostOf(href);
    return host !== undefined && CODE_HOSTS.test(host);
  });
  const hfId = /^https?:\/\/(?:www\.)?huggingface\.co\/papers\/([^/?#]+)/i.exec(link ?? '')?.[1];
  const pageUrl = link ?? (guid !== undefined && /^https?:\/\//i.test(guid) ? guid.trim() : undefined);
  return buildSighting({
    ref,
    title: normalizeSpace(htmlToText(textOf(item.title) ?? '')),
    // Journals often open the description with an "Abstract." label; it is not part of the text
    // (but "Abstract interpretation is …" is).
    abstract: htmlToText(html).replace(/^abstract(?:\s*[.:]\s*|\s*\n\s*)/i, ''),
    authors: genericAuthors(item),
    categories: categoriesOf(item),
    published: publishedOf(item),
    pageUrl,
    extraCode: codeHrefs,
    hfId,
  });
}

/** The item's page: RSS `<link>`, or the Atom link with rel="alternate" (or no rel). */
function linkOf(item: Raw): string | undefined {
  const links = asArray(item.rawLinks);
  let fallback: string | undefined;
  for (const l of links) {
    if (typeof l === 'string') {
      const url = nonEmpty(l);
      if (url !== undefined) return url;
      continue;
    }
    const a = attrsOf(l);
    const href = nonEmpty(a.href) ?? nonEmpty(textOf(l));
    if (href === undefined) continue;
    if (a.rel === undefined || a.rel === 'alternate') return href;
    fallback ??= href;
  }
  return nonEmpty(textOf(item.link)) ?? fallback;
}

// ---------------------------------------------------------------------------------------------
// Hugging Face daily papers JSON

const HfAuthorSchema = z.object({ name: z.string() });
const HfPaperSchema = z.object({
  id: z.string().min(1),
  title: z.string(),
  summary: z.string().default(''),
  authors: z.array(HfAuthorSchema).default([]),
  publishedAt: z.string().optional(),
  githubRepo: z.string().nullish(),
  projectPage: z.string().nullish(),
});
const HfDailyPaperSchema = z.object({
  paper: HfPaperSchema,
  title: z.string().optional(),
  publishedAt: z.string().optional(),
});
/** The parts of `huggingface.co/api/daily_papers` that paperboy reads. */
export const HfDailyPapersSchema = z.array(HfDailyPaperSchema);

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path)
    out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out === '' ? '(top level)' : out;
}

function parseHfDailyPapers(body: string): FeedParseResult {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    return fail(`not a feed: invalid JSON: ${errorMessage(e)}`);
  }
  // The API answers a bad query with {"error": "…"}.
  if (json !== null && typeof json === 'object' && !Array.isArray(json) && 'error' in json) {
    const err = (json as Raw).error;
    return fail(`Hugging Face API error: ${typeof err === 'string' ? err : JSON.stringify(err)}`);
  }
  const parsed = HfDailyPapersSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const shown = issues
      .slice(0, 3)
      .map((i) => `${formatPath(i.path)}: ${i.message}`)
      .join('; ');
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
    return fail(`not a Hugging Face daily papers list: ${shown}${more}`);
  }
  const papers: PaperSighting[] = [];
  for (const entry of parsed.data) {
    const p = entry.paper;
    const id = p.id.trim();
    const extraCode = [p.githubRepo, p.projectPage]
      .map((u) => nonEmpty(u ?? undefined))
      .filter((u): u is string => u !== undefined);
    const s = buildSighting({
      ref: parseArxivRef(id),
      title: normalizeSpace(p.title || entry.title || ''),
      abstract: tidyParagraphs(p.summary),
      authors: unique(p.authors.map((a) => normalizeSpace(a.name)).filter((a) => a !== '')),
      categories: [],
      published: toIsoDate(p.publishedAt) ?? toIsoDate(entry.publishedAt),
      extraCode,
      hfId: id,
    });
    if (s) papers.push(s);
  }
  return { ok: true, status: 'papers', papers };
}
