/**
 * The Paper record and its identity: arXiv ids (versionless) and title fingerprints.
 *
 * Pure: no I/O. Every source turns what it read into {@link PaperSighting}s; the pipeline
 * resolves each sighting to a stored {@link Paper} through its {@link identityKeys}.
 */

/** Stable record id: `arxiv:<id>` when the arXiv id was known at first sight, else `fp:<hash>`. */
export type PaperId = string;

/** How arXiv announced an entry in its RSS feeds (`arxiv:announce_type`). */
export type AnnounceType = 'new' | 'cross' | 'replace' | 'replace-cross';

export interface PaperLinks {
  /** arXiv abstract page (versionless), or the source's own page for non-arXiv items. */
  abs?: string;
  pdf?: string;
  /** Hugging Face paper page. */
  hf?: string;
  /** Code / project URLs found in the abstract. */
  code: string[];
}

/** One stored paper: the same paper seen through any number of sources and versions. */
export interface Paper {
  id: PaperId;
  /** arXiv id without version, e.g. `2411.17700` or `astro-ph/9812133`. */
  arxivId?: string;
  /** Highest arXiv version seen. */
  version?: number;
  title: string;
  abstract: string;
  authors: string[];
  categories: string[];
  links: PaperLinks;
  /** ISO-8601 date (or date-time) the source gives for publication / the digest date. */
  published?: string;
  /** Names of the sources this paper was seen in, first sighting first. */
  sources: string[];
  /** ISO-8601 time paperboy first stored this paper. */
  firstSeen: string;
  /** ISO-8601 time of the last recorded update (new version or changed abstract). */
  updatedAt?: string;
  /** Updates recorded after first sight, oldest first (capped by the pipeline). */
  updates?: PaperUpdate[];
  /**
   * Hashes of every abstract text seen for this paper, so an abstract seen before (an older
   * digest read again, another source's copy) never counts as a change twice. Absent until the
   * abstract first changes: the one abstract seen is then the paper's own.
   */
  abstractHashes?: string[];
}

export interface PaperUpdate {
  at: string;
  source: string;
  /** What changed. */
  kind: 'version' | 'abstract' | 'version+abstract';
  fromVersion?: number;
  toVersion?: number;
}

/** What one source saw of one paper, before identity resolution. */
export interface PaperSighting {
  arxivId?: string;
  version?: number;
  title: string;
  abstract: string;
  authors: string[];
  categories: string[];
  links: PaperLinks;
  published?: string;
  announceType?: AnnounceType;
}

// arXiv identifiers (https://info.arxiv.org/help/arxiv_identifier.html):
//   new style since 2007-04: YYMM.NNNN (to 2014-12) or YYMM.NNNNN, optional vN
//   old style: archive(.SUBJ)?/YYMMNNN, optional vN — archive names are lowercase with '-'
const NEW_ID = String.raw`(\d{4}\.\d{4,5})(?:v(\d+))?`;
const OLD_ID = String.raw`([a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?\/\d{7})(?:v(\d+))?`;
const ID_BODY = `(?:${NEW_ID}|${OLD_ID})`;

/** A bare id (optionally prefixed `arXiv:`), the whole string. */
const BARE_RE = new RegExp(`^(?:arxiv:)?${ID_BODY}$`, 'i');
/** Contexts where an id appears inside a longer string: URLs, GUIDs, "arXiv:" mentions. */
const EMBEDDED_RES: readonly RegExp[] = [
  // arxiv.org/abs/…, /pdf/…, /html/…, export.arxiv.org, alphaxiv etc.
  new RegExp(String.raw`arxiv\.org\/(?:abs|pdf|html|format)\/${ID_BODY}`, 'i'),
  // Hugging Face paper pages and its API: huggingface.co/papers/2411.17700
  new RegExp(String.raw`huggingface\.co\/(?:api\/)?papers\/${NEW_ID}`, 'i'),
  // OAI identifiers in arXiv RSS GUIDs: oai:arXiv.org:2411.17700v1
  new RegExp(String.raw`oai:arxiv\.org:${ID_BODY}`, 'i'),
  // arXiv's DOIs: 10.48550/arXiv.2411.17700
  new RegExp(String.raw`10\.48550\/arxiv\.${ID_BODY}`, 'i'),
  // "arXiv:1805.08875v1" in RSS 1.0 titles and in abstracts
  new RegExp(String.raw`\barxiv:\s?${ID_BODY}`, 'i'),
];

export interface ArxivRef {
  /** Versionless id. */
  id: string;
  version?: number;
}

function refFromMatch(m: RegExpExecArray): ArxivRef {
  // Groups: 1 new id, 2 new version, 3 old id, 4 old version.
  const id = m[1] ?? m[3];
  const v = m[2] ?? m[4];
  if (id === undefined) throw new Error('arXiv id pattern matched without an id group');
  const oldStyle = m[1] === undefined;
  // Old-style archives are lowercase; the optional subject class is uppercase (math.GT).
  const norm = oldStyle
    ? id.replace(
        /^([a-zA-Z-]+)(\.[a-zA-Z]{2})?/,
        (_m, a: string, sub: string | undefined) => a.toLowerCase() + (sub ?? '').toUpperCase(),
      )
    : id;
  return v === undefined ? { id: norm } : { id: norm, version: Number(v) };
}

/**
 * Finds the arXiv id in a bare id, a URL, a GUID or a title suffix. The id never carries the
 * version; the version, when present, is returned beside it.
 */
export function parseArxivRef(text: string | undefined | null): ArxivRef | undefined {
  if (!text) return undefined;
  const s = text.trim();
  const bare = BARE_RE.exec(s);
  if (bare) return refFromMatch(bare);
  for (const re of EMBEDDED_RES) {
    const m = re.exec(s);
    if (m) return refFromMatch(m);
  }
  return undefined;
}

/**
 * The title fingerprint: NFKC, case-folded, every run of non-letter/non-digit characters
 * folded to one space, trimmed. Two titles that differ only in case, punctuation, spacing or
 * Unicode compatibility forms have the same fingerprint.
 */
export function titleFingerprint(title: string): string {
  // Most titles and abstracts are ASCII: NFKC and case folding change nothing there except
  // A-Z, and an ASCII-only pattern is several times faster than the Unicode one.
  if (!NON_ASCII.test(title)) return title.toLowerCase().replace(NON_ALNUM_ASCII, ' ').trim();
  return title.normalize('NFKC').toLowerCase().replace(NON_ALNUM, ' ').trim();
}
const NON_ASCII = /[^\p{ASCII}]/u;
const ALNUM_ASCII = /[A-Za-z0-9]/;

/**
 * Whether `titleFingerprint(title)` is not empty, without building it: a title has a letter or
 * a digit. The fingerprint of every sighting's title was ~75 MB of a 100k-paper cycle's garbage
 * just for this test (sampling heap profiler).
 */
export function hasFingerprint(title: string): boolean {
  if (!NON_ASCII.test(title)) return ALNUM_ASCII.test(title);
  return titleFingerprint(title) !== '';
}
const NON_ALNUM_ASCII = /[^a-z0-9]+/g;
const NON_ALNUM = /[^\p{L}\p{N}]+/gu;

/**
 * A 64-bit non-cryptographic hash (two independent 32-bit FNV-1a/murmur-mixed lanes) as 16
 * hex chars. Used for fingerprint ids, where a collision would need ~4e9 distinct titles.
 */
export function hash64(text: string): string {
  // `| 0`: 0x9747b28c is above 2^31, and a seed V8 must hold as a double keeps the loop's
  // arithmetic in doubles (measured: the fingerprint loop ran 1.75× slower). Same bits either way.
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return finishHash(h1, h2);
}

/**
 * `hash64(titleFingerprint(text))` without building the fingerprint: ASCII text (nearly every
 * title and abstract) is folded and hashed in one pass, which matters for abstracts, hashed on
 * every sighting to tell an update from a repeat.
 */
export function fingerprintHash(text: string): string {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  let started = false;
  let space = false;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    // Anything beyond ASCII needs NFKC and Unicode case folding: the two-step form.
    if (c > 127) return hash64(titleFingerprint(text));
    if (c >= 65 && c <= 90) c += 32;
    else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) {
      space = started;
      continue;
    }
    if (space) {
      h1 = Math.imul(h1 ^ 32, 0x01000193);
      h2 = Math.imul(h2 ^ 32, 0x5bd1e995);
      h2 ^= h2 >>> 15;
      space = false;
    }
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
    started = true;
  }
  return finishHash(h1, h2);
}

/** Char codes of the hex digits. */
const HEX = Array.from({ length: 16 }, (_, i) => i.toString(16).charCodeAt(0));

function finishHash(a: number, b: number): string {
  let h1 = a ^ (a >>> 16);
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  let h2 = Math.imul(b ^ (b >>> 16), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  // 16 hex digits, zero-padded, as one flat string: `toString(16).padStart(8, '0')` twice cost
  // ~0.45 µs a hash (~150 ms of a 100k-paper cycle's main thread), this ~0.05.
  const x = HEX;
  return String.fromCharCode(
    x[(h1 >>> 28) & 15] as number,
    x[(h1 >>> 24) & 15] as number,
    x[(h1 >>> 20) & 15] as number,
    x[(h1 >>> 16) & 15] as number,
    x[(h1 >>> 12) & 15] as number,
    x[(h1 >>> 8) & 15] as number,
    x[(h1 >>> 4) & 15] as number,
    x[h1 & 15] as number,
    x[(h2 >>> 28) & 15] as number,
    x[(h2 >>> 24) & 15] as number,
    x[(h2 >>> 20) & 15] as number,
    x[(h2 >>> 16) & 15] as number,
    x[(h2 >>> 12) & 15] as number,
    x[(h2 >>> 8) & 15] as number,
    x[(h2 >>> 4) & 15] as number,
    x[h2 & 15] as number,
  );
}

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A copy of `text` that shares no memory with the string it was cut from. V8 keeps a substring
 * of 13 or more characters as a view into its parent, so a title kept from a parsed feed keeps
 * the whole feed document alive; a round trip through UTF-8 gives a string of its own.
 */
export function detachText(text: string): string {
  if (text.length < 13) return text;
  // A lone surrogate would not survive UTF-8: copy those character by character.
  if (LONE_SURROGATE.test(text)) return text.split('').join('');
  return UTF8_DECODER.decode(UTF8_ENCODER.encode(text));
}

/** Alias key for an arXiv id. */
export function arxivKey(arxivId: string): string {
  return `arxiv:${arxivId}`;
}

/** Alias key for a title fingerprint. */
export function fingerprintKey(title: string): string {
  return `fp:${fingerprintHash(title)}`;
}

/** The alias keys a sighting can be found under, strongest first. */
export function identityKeys(s: Pick<PaperSighting, 'arxivId' | 'title'>): string[] {
  const keys: string[] = [];
  if (s.arxivId) keys.push(arxivKey(s.arxivId));
  if (hasFingerprint(s.title)) keys.push(fingerprintKey(s.title));
  return keys;
}

/** The id a brand-new paper gets. */
export function newPaperId(s: Pick<PaperSighting, 'arxivId' | 'title'>): PaperId {
  return s.arxivId ? arxivKey(s.arxivId) : fingerprintKey(s.title);
}

/** Canonical arXiv links for a versionless id. */
export function arxivLinks(arxivId: string): { abs: string; pdf: string } {
  return { abs: `https://arxiv.org/abs/${arxivId}`, pdf: `https://arxiv.org/pdf/${arxivId}` };
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'()[\]{}]+/gi;

/**
 * Code and project URLs mentioned in an abstract, in order, without duplicates. Links back to
 * arXiv itself are not code links. Trailing sentence punctuation is not part of a URL
 * ("… at https://github.com/a/b.").
 */
export function findCodeLinks(text: string): string[] {
  const out: string[] = [];
  // Most abstracts have no URL: one vectorised search instead of the regex's scan.
  if (!text.includes('://')) return out;
  for (const m of text.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?]+$/, '');
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      continue;
    }
    if (/(?:^|\.)arxiv\.org$/i.test(host)) continue;
    if (!out.includes(url)) out.push(url);
  }
  return out;
}

// Whitespace other than U+0020 that a one-byte string cannot hold: for Latin-1 text V8 answers
// this without reading it.
const WIDE_SPACE = /[\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

/**
 * Whether `text` has no whitespace but single spaces between words: what most titles and
 * abstracts already are, and what {@link normalizeSpace} and `tidyParagraphs` leave as it is.
 * Each `indexOf` is a vectorised search, several times faster than a loop over the characters.
 */
export function isSingleSpaced(text: string): boolean {
  const n = text.length;
  if (n === 0) return true;
  if (isSpace(text.charCodeAt(0)) || isSpace(text.charCodeAt(n - 1))) return false;
  return (
    text.indexOf('\n') < 0 &&
    text.indexOf('  ') < 0 &&
    text.indexOf('\t') < 0 &&
    text.indexOf('\r') < 0 &&
    text.indexOf('\u00a0') < 0 &&
    text.indexOf('\v') < 0 &&
    text.indexOf('\f') < 0 &&
    !WIDE_SPACE.test(text)
  );
}

/** Whitespace-normalised text, for comparing abstracts across sources. */
export function normalizeSpace(text: string): string {
  if (isSingleSpaced(text)) return text;
  // `text.replace(/\s+/g, ' ').trim()` in one pass: parsing a feed calls this on every title,
  // abstract and author, and the regex form was the biggest cost after the XML parser itself.
  // Runs that are already one space are left inside their slice; only other runs cut it.
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  let from = i;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (!isSpace(c)) {
      i++;
      continue;
    }
    let end = i + 1;
    while (end < n && isSpace(text.charCodeAt(end))) end++;
    if (end === n) {
      out += text.slice(from, i);
      return out;
    }
    if (c !== 32 || end > i + 1) {
      out += `${text.slice(from, i)} `;
      from = end;
    }
    i = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** JavaScript's `\s`: WhiteSpace and LineTerminator code points. */
export function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
