/**
 * HTML fragments from feeds → plain text.
 *
 * Feed descriptions are HTML more often than not (RSS `<description>`, Atom `type="html"`), and
 * the XML parser has already undone one level of escaping, so what is left is markup plus HTML
 * entities. This is not an HTML parser: it removes tags, keeps paragraph breaks and decodes
 * entities, which is all a title or an abstract needs.
 */
import { isSingleSpaced, isSpace } from './paper.js';

// Named entities a feed is likely to use: HTML 4's set (Latin-1, Greek, punctuation, maths),
// which covers what publishers and blog engines emit. Anything else is left as written.
const LATIN1_NAMES = [
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr',
  'deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest',
  'Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml',
  'ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig',
  'agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml',
  'eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml',
]
  .join(' ')
  .split(' ');
const GREEK_UPPER = 'Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Lambda Mu Nu Xi Omicron Pi Rho'
  .split(' ')
  .concat('Sigma Tau Upsilon Phi Chi Psi Omega'.split(' '));
const GREEK_LOWER =
  'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigmaf sigma tau upsilon phi chi psi omega'.split(
    ' ',
  );
const OTHER_ENTITIES: Record<string, number> = {
  amp: 38,
  lt: 60,
  gt: 62,
  quot: 34,
  apos: 39,
  OElig: 338,
  oelig: 339,
  Scaron: 352,
  scaron: 353,
  Yuml: 376,
  fnof: 402,
  circ: 710,
  tilde: 732,
  thetasym: 977,
  ensp: 8194,
  emsp: 8195,
  thinsp: 8201,
  zwnj: 8204,
  zwj: 8205,
  lrm: 8206,
  rlm: 8207,
  ndash: 8211,
  mdash: 8212,
  lsquo: 8216,
  rsquo: 8217,
  sbquo: 8218,
  ldquo: 8220,
  rdquo: 8221,
  bdquo: 8222,
  dagger: 8224,
  Dagger: 8225,
  bull: 8226,
  hellip: 8230,
  permil: 8240,
  prime: 8242,
  Prime: 8243,
  lsaquo: 8249,
  rsaquo: 8250,
  euro: 8364,
  trade: 8482,
  larr: 8592,
  uarr: 8593,
  rarr: 8594,
  darr: 8595,
  harr: 8596,
  lArr: 8656,
  rArr: 8658,
  hArr: 8660,
  forall: 8704,
  part: 8706,
  exist: 8707,
  empty: 8709,
  nabla: 8711,
  isin: 8712,
  notin: 8713,
  ni: 8715,
  prod: 8719,
  sum: 8721,
  minus: 8722,
  lowast: 8727,
  radic: 8730,
  prop: 8733,
  infin: 8734,
  ang: 8736,
  and: 8743,
  or: 8744,
  cap: 8745,
  cup: 8746,
  int: 8747,
  there4: 8756,
  sim: 8764,
  cong: 8773,
  asymp: 8776,
  ne: 8800,
  equiv: 8801,
  le: 8804,
  ge: 8805,
  sub: 8834,
  sup: 8835,
  nsub: 8836,
  sube: 8838,
  supe: 8839,
  oplus: 8853,
  otimes: 8855,
  perp: 8869,
  sdot: 8901,
};

const NAMED_ENTITIES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  LATIN1_NAMES.forEach((name, i) => {
    m.set(name, String.fromCodePoint(160 + i));
  });
  // U+03A2 is unassigned: the capitals skip from Rho (U+03A1) to Sigma (U+03A3).
  GREEK_UPPER.forEach((name, i) => {
    m.set(name, String.fromCodePoint(0x391 + i + (i >= 17 ? 1 : 0)));
  });
  GREEK_LOWER.forEach((name, i) => {
    m.set(name, String.fromCodePoint(0x3b1 + i));
  });
  for (const [name, cp] of Object.entries(OTHER_ENTITIES)) m.set(name, String.fromCodePoint(cp));
  return m;
})();

const ENTITY_RE = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g;

function fromCodePointSafe(cp: number): string | undefined {
  // NUL, surrogates and out-of-range values are what a broken or hostile feed sends; the
  // replacement character keeps the text readable without smuggling them through.
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\uFFFD';
  return String.fromCodePoint(cp);
}

/**
 * Decodes HTML character references: numeric ones (`&#233;`, `&#xE9;`) and the HTML 4 named
 * set (`&eacute;`, `&mdash;`, `&alpha;`, …). Unknown names are left untouched.
 */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY_RE, (whole, dec: string | undefined, hex: string | undefined, name?: string) => {
    if (dec !== undefined) return fromCodePointSafe(Number.parseInt(dec, 10)) ?? whole;
    if (hex !== undefined) return fromCodePointSafe(Number.parseInt(hex, 16)) ?? whole;
    return (name !== undefined && NAMED_ENTITIES.get(name)) || whole;
  });
}

/**
 * Collapses whitespace inside paragraphs and keeps paragraph breaks (a blank line) as exactly
 * one blank line. Single line breaks are not breaks: arXiv hard-wraps its abstracts at 80
 * columns, and HTML ignores them too.
 */
export function tidyParagraphs(text: string): string {
  if (isSingleSpaced(text)) return text;
  // One pass over the text: each run of whitespace becomes a paragraph break when it holds two
  // line breaks (the blank line of `\n[^\S\n]*\n`) and one space otherwise; runs at either end go.
  let out = '';
  let from = 0;
  let i = 0;
  const n = text.length;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  from = i;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (!isSpace(c)) {
      i++;
      continue;
    }
    let end = i;
    let breaks = 0;
    while (end < n) {
      const d = text.charCodeAt(end);
      if (!isSpace(d)) break;
      if (d === 10) breaks++;
      end++;
    }
    if (end === n) return out + text.slice(from, i);
    const gap = breaks >= 2 ? '\n\n' : ' ';
    // A single space already in place stays inside the slice being copied.
    if (gap !== ' ' || c !== 32 || end > i + 1) {
      out += text.slice(from, i) + gap;
      from = end;
    }
    i = end;
  }
  return out + text.slice(from);
}

// A tag is `<name …>` or `</name>`; requiring a letter right after `<` keeps LaTeX such as
// `$k<n$` or `a < b` from being read as markup.
const TAG_RE = /<\/?[A-Za-z][A-Za-z0-9:-]*(?:\s(?:[^<>"']|"[^"]*"|'[^']*')*)?\/?>/g;
const BLOCK_TAG_RE =
  /<\/?(?:p|div|section|article|header|footer|aside|blockquote|pre|ul|ol|li|dl|dt|dd|table|tr|h[1-6]|hr|figure|figcaption)\b(?:[^<>"']|"[^"]*"|'[^']*')*>/gi;
const BREAK_TAG_RE = /<br\b(?:[^<>"']|"[^"]*"|'[^']*')*>/gi;

/**
 * Plain text of an HTML fragment: scripts, styles and comments dropped, block elements turned
 * into paragraph breaks, other tags removed, entities decoded, whitespace tidied.
 */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<(script|style)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, ' ')
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(BLOCK_TAG_RE, '\n\n')
    .replace(BREAK_TAG_RE, '\n')
    .replace(TAG_RE, '');
  // Entities are decoded last, so an escaped `&lt;b&gt;` in the source stays visible text.
  return tidyParagraphs(decodeEntities(text));
}

/** `href`s of the anchors in an HTML fragment, decoded, in document order. */
export function anchorHrefs(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    const href = decodeEntities(m[1] ?? m[2] ?? m[3] ?? '').trim();
    if (href !== '') out.push(href);
  }
  return out;
}
