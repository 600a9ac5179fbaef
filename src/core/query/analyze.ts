/**
 * Text analysis, the same for queries and papers: NFKC, case folding, words as maximal runs of
 * letters and digits, hyphen compounds (parts plus the joined form) and Harman's S-stemmer.
 *
 * A token has a span of positions: a plain word covers one position; the joined form of a
 * compound (`multitask` from `multi-task`) covers the positions of its parts, so the phrase
 * "multitask learning" and "multi task learning" both match the text "multi-task learning".
 */

export interface Token {
  /** Stemmed, folded word. */
  stem: string;
  /** Folded word before stemming (prefix terms match this). */
  raw: string;
  /** First and last position covered. */
  start: number;
  end: number;
}

const NON_ASCII = /[^\p{ASCII}]/u;

/** NFKC + lower case; ASCII text skips the normalisation. */
export function foldText(text: string): string {
  return NON_ASCII.test(text) ? text.normalize('NFKC').toLowerCase() : text.toLowerCase();
}

/**
 * Harman's S-stemmer: `-ies`→`-y` (not after e or a), `-es`→`-e` (not after a, e or o),
 * `-s`→`` (not after u or s); the first rule that applies, and a word that is only the suffix
 * stays as it is.
 */
export function stem(word: string): string {
  const n = word.length;
  if (n < 2 || word.charCodeAt(n - 1) !== 115 /* s */) return word;
  if (word === 'es' || word === 'ies') return word;
  if (n > 3 && word.endsWith('ies')) {
    const before = word[n - 4];
    if (before !== 'e' && before !== 'a') return `${word.slice(0, -3)}y`;
  }
  if (n > 2 && word.endsWith('es')) {
    const before = word[n - 3];
    if (before !== 'a' && before !== 'e' && before !== 'o') return word.slice(0, -1);
  }
  const before = word[n - 2];
  if (before !== 'u' && before !== 's') return word.slice(0, -1);
  return word;
}

/**
 * Splits folded text into tokens. `startPos` offsets positions (author names are analysed one by
 * one, with gaps, so a phrase never spans two authors).
 */
export function tokenize(text: string, startPos = 0): Token[] {
  const ascii = !NON_ASCII.test(text);
  const s = ascii ? text.toLowerCase() : text.normalize('NFKC').toLowerCase();
  const re = ascii ? ASCII_RUN : UNICODE_RUN;
  re.lastIndex = 0;
  const out: Token[] = [];
  let pos = startPos;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const run = m[0];
    if (!(ascii ? run.includes('-') : HYPHEN_IN.test(run))) {
      out.push({ stem: stem(run), raw: run, start: pos, end: pos++ });
      continue;
    }
    // A compound: its parts, then the joined form spanning them.
    const parts = run.split(HYPHEN_SPLIT);
    const first = pos;
    for (const p of parts) out.push({ stem: stem(p), raw: p, start: pos, end: pos++ });
    const joined = parts.join('');
    out.push({ stem: stem(joined), raw: joined, start: first, end: pos - 1 });
  }
  return out;
}

/** Words, and hyphen compounds of words (a hyphen between two word characters). */
const ASCII_RUN = /[a-z0-9]+(?:-[a-z0-9]+)*/g;
const UNICODE_RUN = /[\p{L}\p{N}\p{M}]+(?:[-\u2010\u2011][\p{L}\p{N}\p{M}]+)*/gu;
const HYPHEN_IN = /[-\u2010\u2011]/;
const HYPHEN_SPLIT = /[-\u2010\u2011]/;

/** The words of a query term, as tokens (parts of a compound, and its joined form, last). */
export function analyzeTerm(text: string): { parts: string[]; joined?: string; rawParts: string[] } {
  const tokens = tokenize(text);
  const plain = tokens.filter((t) => t.start === t.end);
  const joined = tokens.find((t) => t.start !== t.end);
  const result: { parts: string[]; joined?: string; rawParts: string[] } = {
    parts: plain.map((t) => t.stem),
    rawParts: plain.map((t) => t.raw),
  };
  const first = plain[0];
  const last = plain[plain.length - 1];
  const whole = joined && first && last && joined.start === first.start && joined.end === last.end;
  if (joined && whole && tokens.length === plain.length + 1) result.joined = joined.stem;
  return result;
}
