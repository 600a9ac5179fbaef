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

/** Hyphens that join compound parts: ASCII hyphen-minus, U+2010 HYPHEN, U+2011 NON-BREAKING HYPHEN. */
const HYPHENS = new Set(['-', '\u2010', '\u2011']);

const NON_ASCII = /[^\p{ASCII}]/u;
const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u;

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

function isWordCode(c: number, ch: string): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
  return WORD_CHAR.test(ch);
}

/**
 * Splits folded text into tokens. `startPos` offsets positions (author names are analysed one by
 * one, with gaps, so a phrase never spans two authors).
 */
export function tokenize(text: string, startPos = 0): Token[] {
  const s = foldText(text);
  const out: Token[] = [];
  let pos = startPos;
  let i = 0;
  const n = s.length;
  while (i < n) {
    // Skip to the next word.
    while (i < n && !isWordCode(s.charCodeAt(i), s[i] as string)) i++;
    if (i >= n) break;
    // A compound: words joined by single hyphens.
    const parts: string[] = [];
    for (;;) {
      const from = i;
      while (i < n) {
        const c = s.charCodeAt(i);
        if (c < 128) {
          if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) break;
        } else if (!WORD_CHAR.test(s[i] as string)) {
          // Astral letters: test the whole code point.
          const cp = s.codePointAt(i) as number;
          if (cp > 0xffff && WORD_CHAR.test(String.fromCodePoint(cp))) {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      parts.push(s.slice(from, i));
      if (i + 1 < n && HYPHENS.has(s[i] as string) && isWordCode(s.charCodeAt(i + 1), s[i + 1] as string)) {
        i++;
        continue;
      }
      break;
    }
    const first = pos;
    for (const p of parts) out.push({ stem: stem(p), raw: p, start: pos, end: pos++ });
    if (parts.length > 1) {
      const joined = parts.join('');
      out.push({ stem: stem(joined), raw: joined, start: first, end: pos - 1 });
    }
  }
  return out;
}

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
