/**
 * A fast reader for well-formed RSS 2.0, RSS 1.0 and Atom documents, giving the same feed object
 * that rss-parser (xml2js over sax) gives with feed.ts's options, for the fields feed.ts reads.
 *
 * Parsing a 2000-item arXiv listing through sax and xml2js costs more than everything else in an
 * ingest cycle. This scanner moves with `indexOf` from tag to tag instead of a callback per
 * character. It reads a strict subset of XML: whenever a document steps outside it (a DOCTYPE,
 * a named entity other than XML's five, a processing instruction inside the root, mixed
 * content, an unusual root, anything malformed), it gives up with `undefined` and the caller
 * uses rss-parser, which stays the general parser and the one that explains bad input. Giving
 * up is always allowed; answering differently from rss-parser never is.
 *
 * Pure: no I/O.
 */

import { detachText, isSpace } from './paper.js';

/** An element as read: its text is the concatenation of its text and CDATA, entities decoded. */
interface XmlElement {
  name: string;
  attrs: Record<string, string> | undefined;
  text: string;
  /** A non-empty CDATA section was part of the text (xml2js then keeps even blank text). */
  cdata: boolean;
  children: XmlElement[] | undefined;
}

type Raw = Record<string, unknown>;

/** rss-parser's feed object: the feed's fields and its items. */
export type RawFeed = Raw & { items: Raw[] };

// ---------------------------------------------------------------------------------------------
// Scanning

const LT = 60;
const GT = 62;
const SLASH = 47;
const BANG = 33;
const EQUALS = 61;
const DQUOTE = 34;
const SQUOTE = 39;

/** sax's whitespace: space, tab, CR and LF. */
function isSaxSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** ASCII name start characters; other names (valid to sax or not) are left to the general parser. */
function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46;
}

/**
 * Whether xml2js drops an element's text as blank: `/^\s*$/` (JavaScript's `\s`, not XML's
 * whitespace). Tested on the text between every two elements, mostly a line break and an indent:
 * a loop over a few characters, not a regex call.
 */
function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isSpace(text.charCodeAt(i))) return false;
  return true;
}

// xml2js renames <published>/<updated> (feed.ts's tagNameProcessors); an element already named
// like the result would merge with them, and `_` would clash with xml2js's text key.
const AWKWARD_NAMES = new Set(['_', 'atom-published', 'atom-updated']);

/** XML's character production, as sax checks numeric character references against it. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Decodes the references sax decodes the same way in every case: XML's five named entities and
 * plain numeric references. Anything else (HTML names, which sax also knows, odd spellings,
 * invalid code points) gives undefined.
 */
function decodeXmlText(s: string): string | undefined {
  let out = '';
  let from = 0;
  let amp = s.indexOf('&');
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 10) return undefined;
    const body = s.slice(amp + 1, semi);
    let decoded: string | undefined;
    if (body.charCodeAt(0) === 35) {
      const hex = body.charCodeAt(1) === 120 || body.charCodeAt(1) === 88;
      const digits = body.slice(hex ? 2 : 1);
      // No leading zeros and nothing but digits: then parseInt reads exactly what sax reads.
      if (!(hex ? /^[1-9a-fA-F][0-9a-fA-F]{0,5}$/ : /^[1-9][0-9]{0,6}$/).test(digits)) return undefined;
      const cp = Number.parseInt(digits, hex ? 16 : 10);
      if (!isXmlChar(cp)) return undefined;
      decoded = String.fromCodePoint(cp);
    } else {
      decoded = Object.hasOwn(XML_ENTITIES, body) ? XML_ENTITIES[body] : undefined;
      if (decoded === undefined) return undefined;
    }
    out += s.slice(from, amp) + decoded;
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

/** A comment's end, or -1 when sax would reject it (`--` inside, `--->` at the end) or it never ends. */
function commentEnd(src: string, at: number): number {
  const end = src.indexOf('-->', at + 4);
  if (end < 0) return -1;
  const body = src.slice(at + 4, end);
  return body.includes('--') || body.endsWith('-') ? -1 : end + 3;
}

/** Skips whitespace, comments and processing instructions before or after the root element. */
function skipMisc(src: string, at: number, allowPi: boolean): number {
  let i = at;
  for (;;) {
    while (isSaxSpace(src.charCodeAt(i))) i++;
    if (src.startsWith('<!--', i)) {
      i = commentEnd(src, i);
      if (i < 0) return -1;
    } else if (allowPi && src.startsWith('<?', i)) {
      const end = src.indexOf('?>', i + 2);
      if (end < 0) return -1;
      i = end + 2;
    } else {
      return i;
    }
  }
}

/**
 * Called as each element closes, with its open ancestors (the root first). True: the caller has
 * taken the element, and it is not kept among its parent's children.
 */
type OnClose = (el: XmlElement, ancestors: readonly XmlElement[]) => boolean;

/**
 * The root element of a document in the subset this reader understands, else undefined.
 * `onClose` may take elements as they close (see {@link readFeedFast}).
 */
function scanXml(src: string, onClose?: OnClose): XmlElement | undefined {
  const n = src.length;
  let i = skipMisc(src, 0, true);
  if (i < 0 || src.charCodeAt(i) !== LT || !isNameStart(src.charCodeAt(i + 1))) return undefined;

  const stack: XmlElement[] = [];

  for (;;) {
    const lt = src.indexOf('<', i);
    if (lt < 0) return undefined;
    const top = stack[stack.length - 1];
    if (lt > i) {
      // Before the root, skipMisc has already stepped over all there may be.
      if (top === undefined) return undefined;
      let text = src.slice(i, lt);
      if (text.includes('&')) {
        const decoded = decodeXmlText(text);
        if (decoded === undefined) return undefined;
        text = decoded;
      }
      if (top.children === undefined) top.text += text;
      // xml2js keeps an element's text or its children, never both: only blank text may sit
      // between children, and it is not worth keeping.
      else if (!isBlank(text)) return undefined;
    }
    const c = src.charCodeAt(lt + 1);

    if (c === SLASH) {
      if (top === undefined) return undefined;
      const name = top.name;
      if (!src.startsWith(name, lt + 2)) return undefined;
      let p = lt + 2 + name.length;
      while (isSaxSpace(src.charCodeAt(p))) p++;
      if (src.charCodeAt(p) !== GT) return undefined;
      stack.pop();
      i = p + 1;
      if (stack.length === 0) return skipMisc(src, i, false) === n ? top : undefined;
      // Closed, it is its parent's last child.
      if (onClose?.(top, stack)) (stack[stack.length - 1] as XmlElement).children?.pop();
      continue;
    }

    if (c === BANG) {
      if (src.startsWith('<!--', lt)) {
        i = commentEnd(src, lt);
        if (i < 0) return undefined;
      } else if (src.startsWith('<![CDATA[', lt) && top !== undefined) {
        const end = src.indexOf(']]>', lt + 9);
        if (end < 0) return undefined;
        if (end > lt + 9) {
          if (top.children !== undefined) return undefined;
          top.text += src.slice(lt + 9, end);
          top.cdata = true;
        }
        i = end + 3;
      } else {
        return undefined;
      }
      continue;
    }

    if (!isNameStart(c)) return undefined;
    let p = lt + 2;
    while (isNameChar(src.charCodeAt(p))) p++;
    const name = src.slice(lt + 1, p);
    if (AWKWARD_NAMES.has(name)) return undefined;
    let attrs: Record<string, string> | undefined;
    let selfClosing = false;
    for (;;) {
      const d = src.charCodeAt(p);
      if (d === GT) {
        p++;
        break;
      }
      if (d === SLASH) {
        if (src.charCodeAt(p + 1) !== GT) return undefined;
        p += 2;
        selfClosing = true;
        break;
      }
      if (!isSaxSpace(d)) return undefined;
      while (isSaxSpace(src.charCodeAt(p))) p++;
      const e = src.charCodeAt(p);
      if (e === GT || e === SLASH) continue;
      if (!isNameStart(e)) return undefined;
      const nameAt = p;
      while (isNameChar(src.charCodeAt(p))) p++;
      const attr = src.slice(nameAt, p);
      while (isSaxSpace(src.charCodeAt(p))) p++;
      if (src.charCodeAt(p) !== EQUALS) return undefined;
      p++;
      while (isSaxSpace(src.charCodeAt(p))) p++;
      const q = src.charCodeAt(p);
      if (q !== DQUOTE && q !== SQUOTE) return undefined;
      const end = src.indexOf(q === DQUOTE ? '"' : "'", p + 1);
      if (end < 0) return undefined;
      let value = src.slice(p + 1, end);
      if (value.includes('&')) {
        const decoded = decodeXmlText(value);
        if (decoded === undefined) return undefined;
        value = decoded;
      }
      attrs ??= {};
      // sax keeps the first of repeated attributes; such a document is left to it.
      if (attr === '__proto__' || Object.hasOwn(attrs, attr)) return undefined;
      attrs[attr] = value;
      p = end + 1;
    }
    const el: XmlElement = { name, attrs, text: '', cdata: false, children: undefined };
    if (top !== undefined) {
      if (top.children !== undefined) top.children.push(el);
      else if (top.cdata || !isBlank(top.text)) return undefined;
      else top.children = [el];
    }
    i = p;
    if (selfClosing) {
      if (top === undefined) return skipMisc(src, i, false) === n ? el : undefined;
      if (onClose?.(el, stack)) top.children?.pop();
    } else {
      stack.push(el);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// xml2js values

/**
 * xml2js's value for an element (explicitArray, `$` for attributes, `_` for text): a string for
 * text without attributes, `{ _, $ }` with them, `{ $ }` for blank text with attributes, and an
 * object of child arrays for an element with children.
 */
function xml2jsValue(el: XmlElement): unknown {
  if (el.children === undefined) {
    if (el.attrs === undefined) return el.text;
    return !el.cdata && isBlank(el.text) ? { $: el.attrs } : { _: el.text, $: el.attrs };
  }
  const obj: Raw = Object.create(null);
  if (el.attrs !== undefined) obj.$ = el.attrs;
  for (const child of el.children) {
    const list = obj[child.name] as unknown[] | undefined;
    if (list === undefined) obj[child.name] = [xml2jsValue(child)];
    else list.push(xml2jsValue(child));
  }
  return obj;
}

/** rss-parser's copyFromXML unwrapping: `{ _: text }` becomes the text. */
function unwrap(v: unknown): unknown {
  return v !== null && typeof v === 'object' && typeof (v as Raw)._ === 'string' ? (v as Raw)._ : v;
}

/** rss-parser's getContent, or undefined where it would serialise an object back to XML. */
function contentOf(v: unknown): { value: unknown } | undefined {
  if (v !== null && typeof v === 'object') {
    const inner = (v as Raw)._;
    return typeof inner === 'string' ? { value: inner } : undefined;
  }
  return { value: v };
}

/**
 * An element's children looked up by name. A linear search: items have a dozen children, and
 * building a map per item cost more than it saved.
 */
class Children {
  readonly #all: readonly XmlElement[];
  constructor(el: XmlElement) {
    this.#all = el.children ?? [];
  }
  first(name: string): XmlElement | undefined {
    for (const child of this.#all) if (child.name === name) return child;
    return undefined;
  }
  all(name: string): XmlElement[] | undefined {
    let out: XmlElement[] | undefined;
    for (const child of this.#all) {
      if (child.name !== name) continue;
      if (out === undefined) out = [child];
      else out.push(child);
    }
    return out;
  }
  /** copyFromXML for one field: the first element's value, unwrapped, into `to`. */
  copy(dest: Raw, from: string, to = from): void {
    const el = this.first(from);
    if (el !== undefined) dest[to] = unwrap(xml2jsValue(el));
  }
  /** copyFromXML with keepArray: every element's value. */
  copyArray(dest: Raw, from: string, to: string): void {
    const els = this.all(from);
    if (els !== undefined) dest[to] = els.map(xml2jsValue);
  }
}

// The item fields feed.ts asks rss-parser for, beyond rss-parser's defaults.
function copyCustomItemFields(c: Children, item: Raw): void {
  c.copy(item, 'description');
  c.copy(item, 'summary');
  c.copy(item, 'id');
  c.copy(item, 'published');
  c.copy(item, 'updated');
  c.copy(item, 'content:encoded');
  c.copy(item, 'arxiv:announce_type', 'announceType');
  c.copy(item, 'arxiv:primary_category', 'primaryCategory');
  c.copyArray(item, 'dc:creator', 'dcCreators');
  c.copyArray(item, 'dc:subject', 'dcSubjects');
  c.copyArray(item, 'category', 'rawCategories');
  c.copyArray(item, 'author', 'rawAuthors');
  c.copyArray(item, 'link', 'rawLinks');
}

// All items of a listing share one pubDate: parse it once. The text is kept as a copy: a date
// cut from the document would keep the whole document (7 MB for 2000 arXiv items) alive.
let lastDate: { text: string; iso: string | undefined } | undefined;

/** rss-parser's setISODate: `new Date(date.trim()).toISOString()`, nothing when that throws. */
function isoDateOf(date: unknown): string | undefined {
  if (typeof date !== 'string') return undefined;
  if (lastDate?.text === date) return lastDate.iso;
  let iso: string | undefined;
  try {
    iso = new Date(date.trim()).toISOString();
  } catch {
    iso = undefined;
  }
  lastDate = { text: detachText(date), iso };
  return iso;
}

// ---------------------------------------------------------------------------------------------
// rss-parser's feed building, for the fields feed.ts reads

/** buildRSS: RSS 2.0, 0.9x and 1.0, its items read already ({@link readRssItem}). */
function readRss(channel: XmlElement, items: Raw[]): RawFeed {
  const c = new Children(channel);
  const feed: RawFeed = { items: [] };
  const atomLink = c.first('atom:link');
  if (atomLink?.attrs !== undefined) feed.feedUrl = atomLink.attrs.href;
  c.copy(feed, 'dc:title', 'title');
  c.copy(feed, 'title');
  c.copy(feed, 'description');
  c.copy(feed, 'link');
  c.copy(feed, 'subtitle');
  c.copy(feed, 'id');
  c.copy(feed, 'dc:date');
  feed.items = items;
  return feed;
}

/** parseItemRss: one item; undefined where rss-parser would serialise an object back to XML. */
function readRssItem(el: XmlElement): Raw | undefined {
  const ic = new Children(el);
  const item: Raw = {};
  ic.copy(item, 'dc:date', 'date');
  ic.copy(item, 'dc:title', 'title');
  ic.copy(item, 'title');
  ic.copy(item, 'link');
  ic.copy(item, 'pubDate');
  ic.copy(item, 'dc:date');
  copyCustomItemFields(ic, item);
  const description = ic.first('description');
  if (description !== undefined) {
    const content = contentOf(xml2jsValue(description));
    if (content === undefined) return undefined;
    item.content = content.value;
  }
  const guid = ic.first('guid');
  if (guid !== undefined) {
    const g = xml2jsValue(guid);
    const inner = g !== null && typeof g === 'object' ? (g as Raw)._ : undefined;
    item.guid = inner ? inner : g;
  }
  const about = el.attrs?.['rdf:about'];
  if (about) item['rdf:about'] = about;
  const iso = isoDateOf(item.pubDate || item.date);
  if (iso !== undefined) item.isoDate = iso;
  return item;
}

/**
 * Whether an `<item>` with these open ancestors is one {@link readFeedFast} reads: a child of the
 * first `<channel>` of `<rss>`, or of `<rdf:RDF>` (RSS 1.0 puts items beside its channel).
 */
function isFeedItem(ancestors: readonly XmlElement[]): boolean {
  const root = ancestors[0] as XmlElement;
  if (ancestors.length === 1) return root.name === 'rdf:RDF';
  if (ancestors.length !== 2 || root.name !== 'rss') return false;
  const channel = ancestors[1] as XmlElement;
  return channel.name === 'channel' && root.children?.find((el) => el.name === 'channel') === channel;
}

/** rss-parser's getLink; undefined where it would throw (a link without attributes). */
function linkOf(links: readonly XmlElement[], rel: string, fallback: number): { href?: string } | undefined {
  if (links.some((l) => l.attrs === undefined)) return undefined;
  const found = links.find((l) => l.attrs?.rel === rel) ?? links[fallback];
  const href = found?.attrs?.href;
  return href === undefined ? {} : { href };
}

/** rss-parser's title rule for Atom: `title[0] || ''`, `_` if set, kept when truthy. */
function atomTitle(c: Children, dest: Raw): void {
  const el = c.first('title');
  if (el === undefined) return;
  let title: unknown = xml2jsValue(el) || '';
  if (typeof title === 'object' && (title as Raw)._) title = (title as Raw)._;
  if (title) dest.title = title;
}

/** buildAtomFeed and parseItemAtom. */
function readAtom(root: XmlElement): RawFeed | undefined {
  const c = new Children(root);
  const feed: RawFeed = { items: [] };
  c.copy(feed, 'subtitle');
  c.copy(feed, 'id');
  c.copy(feed, 'dc:date');
  const links = c.all('link');
  if (links !== undefined) {
    const alternate = linkOf(links, 'alternate', 0);
    const self = linkOf(links, 'self', 1);
    if (alternate === undefined || self === undefined) return undefined;
    feed.link = alternate.href;
    feed.feedUrl = self.href;
  }
  atomTitle(c, feed);

  for (const el of c.all('entry') ?? []) {
    const ec = new Children(el);
    const item: Raw = {};
    copyCustomItemFields(ec, item);
    atomTitle(ec, item);
    const entryLinks = ec.all('link');
    if (entryLinks !== undefined) {
      const alternate = linkOf(entryLinks, 'alternate', 0);
      if (alternate === undefined) return undefined;
      item.link = alternate.href;
    }
    for (const field of ['content', 'summary']) {
      const fieldEl = ec.first(field);
      if (fieldEl === undefined) continue;
      const content = contentOf(xml2jsValue(fieldEl));
      if (content === undefined) return undefined;
      item[field] = content.value;
    }
    const id = ec.first('id');
    if (id !== undefined) item.id = xml2jsValue(id);
    feed.items.push(item);
  }
  return feed;
}

/**
 * The feed object rss-parser would give for `text` (with feed.ts's options), as far as feed.ts
 * reads it; undefined when the document is outside what this reader understands.
 */
export function readFeedFast(text: string): RawFeed | undefined {
  // An RSS item is read as soon as it closes, and its elements let go: kept until the end of a
  // 2000-item document, the whole tree outlived several young-generation collections, and
  // copying it was ~127 MB of a 100k-paper cycle's promoted bytes (ADR 7, stop 15 addendum).
  const items: Raw[] = [];
  let unreadable = false;
  const root = scanXml(text, (el, ancestors) => {
    if (el.name !== 'item' || !isFeedItem(ancestors)) return false;
    const item = readRssItem(el);
    if (item === undefined) unreadable = true;
    else items.push(item);
    return true;
  });
  if (root === undefined || root.children === undefined || unreadable) return undefined;
  const children = root.children;
  switch (root.name) {
    case 'rss': {
      // rss-parser adds iTunes fields for podcasts; paperboy has no use for them.
      if (root.attrs?.['xmlns:itunes'] !== undefined) return undefined;
      const channel = children.find((el) => el.name === 'channel');
      if (channel === undefined) return undefined;
      return readRss(channel, items);
    }
    case 'rdf:RDF': {
      const channel = children.find((el) => el.name === 'channel');
      if (channel === undefined) return undefined;
      return readRss(channel, items);
    }
    case 'feed':
      return readAtom(root);
    default:
      return undefined;
  }
}
