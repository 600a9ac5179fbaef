/**
 * Hugging Face Daily Papers text dumps → PaperSighting[].
 *
 * The page, copied as text, comes in two layouts (both in seeds/):
 *  - "blank-separated": boilerplate lines, an optional date line ("Sep 1"), then title and
 *    abstract paragraphs separated by blank lines;
 *  - "consecutive": title and abstract on consecutive lines, the first title glued to the
 *    "Subscribe" button's text ("SubscribeOn Distribution Shift in …").
 * A file either parses whole or is rejected with the line that broke it: a digest is never
 * half-ingested.
 */
import { findCodeLinks, normalizeSpace, type PaperSighting } from './paper.js';

export type DigestLayout = 'blank-separated' | 'consecutive';

export type DigestParseResult =
  | {
      ok: true;
      layout: DigestLayout;
      /** ISO date (YYYY-MM-DD) when the page shows one. */
      date?: string;
      papers: PaperSighting[];
    }
  | { ok: false; error: string; line?: number };

export interface DigestParseOptions {
  /** Resolves a year-less page date ("Sep 1") to the latest such date not after this one. */
  referenceDate?: Date;
}

// The page's fixed texts. Matched case-insensitively on whole, trimmed lines.
const BOILERPLATE = new Set(
  [
    'new',
    'Get trending papers in your email inbox!',
    'Get trending papers in your email inbox once a day!',
    'Subscribe',
    'Daily Papers',
    'by AK and the research community',
    'byAK and the research community',
  ].map((s) => s.toLowerCase()),
);
/** Lines that prove the text came from the Daily Papers page. */
const MARKER =
  /^(?:get trending papers in your email inbox|daily papers$|by ?ak and the research community$)/i;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DATE_LINE = /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (\d{1,2})(?:,? (\d{4}))?$/i;
/** The header sits within the first lines of the page. */
const HEADER_WINDOW = 15;
// A title is one line of modest length; an abstract is prose, longer than its title.
const MAX_TITLE = 400;
const MIN_ABSTRACT = 40;

interface Item {
  text: string;
  line: number;
}

/** Parses one HF Daily Papers text dump. Never throws on bad input. */
export function parseDigest(text: string, opts: DigestParseOptions = {}): DigestParseResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);

  // 1. The header: boilerplate, an optional date, and the "Subscribe" glued to the first title.
  let i = 0;
  let seen = 0;
  let marker = false;
  let date: string | undefined;
  let gluedTitle: Item | undefined;
  for (; i < lines.length && seen < HEADER_WINDOW; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    seen++;
    if (MARKER.test(line)) marker = true;
    if (BOILERPLATE.has(line.toLowerCase())) continue;
    const d = DATE_LINE.exec(line);
    if (d && date === undefined) {
      date = resolveDate(d, opts.referenceDate ?? new Date());
      continue;
    }
    if (/^Subscribe\S/.test(line)) {
      gluedTitle = { text: line.slice('Subscribe'.length), line: i + 1 };
      i++;
    }
    break;
  }
  if (!marker) {
    return {
      ok: false,
      error:
        'not an HF Daily Papers digest: no "Daily Papers" / "Get trending papers" header in the first lines',
    };
  }

  // 2. The body. Both layouts put every title and every abstract on a line of its own; they
  // differ only in blank lines between them. Lines are never joined: a line that is neither a
  // title nor an abstract breaks the pairing below and rejects the file instead of being glued
  // onto a neighbour.
  const body = lines.slice(i);
  const blankSeparated = gluedTitle === undefined && hasInnerBlank(body);
  const items: Item[] = gluedTitle ? [gluedTitle] : [];
  body.forEach((raw, k) => {
    const line = raw.trim();
    if (line !== '') items.push({ text: line, line: i + k + 1 });
  });

  // 3. Title/abstract pairs, every one checked before any is returned.
  if (items.length === 0) return { ok: false, error: 'digest has a header but no papers' };
  const papers: PaperSighting[] = [];
  for (let k = 0; k < items.length; k += 2) {
    const title = items[k] as Item;
    const abstract = items[k + 1];
    if (abstract === undefined) {
      return {
        ok: false,
        error: `line ${title.line}: title without an abstract at the end of the digest`,
        line: title.line,
      };
    }
    const problem = checkPair(title.text, abstract.text);
    if (problem) {
      return { ok: false, error: `line ${title.line}: ${problem}`, line: title.line };
    }
    const abs = normalizeSpace(abstract.text);
    const sighting: PaperSighting = {
      title: normalizeSpace(title.text),
      abstract: abs,
      authors: [],
      categories: [],
      links: { code: findCodeLinks(abs) },
    };
    if (date !== undefined) sighting.published = date;
    papers.push(sighting);
  }
  const result: DigestParseResult = {
    ok: true,
    layout: blankSeparated ? 'blank-separated' : 'consecutive',
    papers,
  };
  if (date !== undefined) result.date = date;
  return result;
}

function hasInnerBlank(body: readonly string[]): boolean {
  let seenText = false;
  let blankAfterText = false;
  for (const raw of body) {
    if (raw.trim() === '') {
      if (seenText) blankAfterText = true;
    } else if (blankAfterText) {
      return true;
    } else {
      seenText = true;
    }
  }
  return false;
}

function checkPair(title: string, abstract: string): string | undefined {
  if (title.length > MAX_TITLE) {
    return `expected a paper title, found ${title.length} characters of text (is a title or abstract missing above?)`;
  }
  if (abstract.length < MIN_ABSTRACT || abstract.length <= title.length) {
    return `"${clip(title)}" is not followed by an abstract (found "${clip(abstract)}")`;
  }
  return undefined;
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function resolveDate(m: RegExpExecArray, ref: Date): string {
  const month = MONTHS.indexOf((m[1] ?? '').slice(0, 3).toLowerCase());
  const day = Number(m[2]);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (m[3] !== undefined) return `${m[3]}-${pad(month + 1)}-${pad(day)}`;
  // No year on the page: the latest such day not after the reference date.
  let year = ref.getUTCFullYear();
  if (Date.UTC(year, month, day) > ref.getTime()) year--;
  return `${year}-${pad(month + 1)}-${pad(day)}`;
}
