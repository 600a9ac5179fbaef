/**
 * Evaluating queries on papers: the analysed paper, the plain interpreter, BM25-style scores,
 * explanations, and the compiled matcher that evaluates only the subscriptions a paper's words
 * can satisfy.
 */
import type { Paper } from '../paper.js';
import { foldText, type Token, tokenize } from './analyze.js';
import type { Field, Query } from './parse.js';
import type { PaperWords } from './text-codec.js';

export type MatchablePaper = Pick<Paper, 'id' | 'title' | 'abstract' | 'authors' | 'categories' | 'sources'>;

interface FieldText {
  tokens: Token[];
  /** Occurrences of each stem. */
  tf: Map<string, number>;
  /** Distinct folded words, for prefixes. */
  raws: Set<string>;
  /** Stem → words as written, built on first use (highlighting matched papers only). */
  surfaces?: Map<string, string[]>;
  /** NFKC text, for regexes. */
  text: string;
}

/** A paper analysed once, evaluated against any number of queries. */
export interface AnalyzedPaper {
  readonly id: string;
  /** The paper as given: the compiled matcher scans its text itself, without the fields below. */
  readonly source: MatchablePaper;
  readonly title: FieldText;
  readonly abstract: FieldText;
  readonly author: FieldText;
  /** Folded category codes and source names. */
  readonly categories: string[];
  readonly sources: string[];
}

const NON_ASCII_TEXT = /[^\p{ASCII}]/u;
const nfkc = (s: string) => (NON_ASCII_TEXT.test(s) ? s.normalize('NFKC') : s);

/** Author names are analysed one by one, this many positions apart, so phrases stay inside a name. */
export const AUTHOR_GAP = 1000;

function fieldText(text: string, tokens: Token[]): FieldText {
  const tf = new Map<string, number>();
  const raws = new Set<string>();
  for (const t of tokens) {
    tf.set(t.stem, (tf.get(t.stem) ?? 0) + 1);
    raws.add(t.raw);
  }
  return { tokens, tf, raws, text };
}

function surfacesOf(f: FieldText): Map<string, string[]> {
  if (f.surfaces) return f.surfaces;
  const m = new Map<string, string[]>();
  for (const t of f.tokens) {
    const list = m.get(t.stem);
    if (!list) m.set(t.stem, [t.raw]);
    else if (!list.includes(t.raw)) list.push(t.raw);
  }
  f.surfaces = m;
  return m;
}

function someRaw(f: FieldText, prefix: string): boolean {
  for (const r of f.raws) if (r.startsWith(prefix)) return true;
  return false;
}

/**
 * Text fields are tokenised on first use: the compiled matcher reads `source` and never pays for
 * them, the interpreter and explanations build them once per paper.
 */
class LazyAnalyzedPaper implements AnalyzedPaper {
  readonly id: string;
  private categoryCodes: string[] | undefined;
  private sourceNames: string[] | undefined;
  private titleText: FieldText | undefined;
  private abstractText: FieldText | undefined;
  private authorText: FieldText | undefined;

  constructor(readonly source: MatchablePaper) {
    this.id = source.id;
  }

  get categories(): string[] {
    this.categoryCodes ??= this.source.categories.map(foldText);
    return this.categoryCodes;
  }

  get sources(): string[] {
    this.sourceNames ??= this.source.sources.map(foldText);
    return this.sourceNames;
  }

  get title(): FieldText {
    this.titleText ??= fieldText(nfkc(this.source.title), tokenize(this.source.title));
    return this.titleText;
  }

  get abstract(): FieldText {
    this.abstractText ??= fieldText(nfkc(this.source.abstract), tokenize(this.source.abstract));
    return this.abstractText;
  }

  get author(): FieldText {
    if (this.authorText === undefined) {
      const tokens: Token[] = [];
      for (const [i, a] of this.source.authors.entries()) tokens.push(...tokenize(a, i * AUTHOR_GAP));
      this.authorText = fieldText(nfkc(this.source.authors.join(', ')), tokens);
    }
    return this.authorText;
  }
}

/** Analyses a paper for {@link matchesQuery}, {@link scoreMatch}, {@link explainMatch} and matchers. */
export function analyzePaper(p: MatchablePaper): AnalyzedPaper {
  return new LazyAnalyzedPaper(p);
}

type TextField = 'title' | 'abstract' | 'author';

const FIELDS_OF: Record<Field, readonly TextField[]> = {
  text: ['title', 'abstract'],
  title: ['title'],
  abstract: ['abstract'],
  author: ['author'],
  category: [],
  source: [],
};

function fieldsOf(f: Field): readonly TextField[] {
  return FIELDS_OF[f];
}

function phraseAt(tokens: readonly Token[], words: readonly string[]): number {
  // Tokens are in position order, compound joins right after their parts.
  for (let i = 0; i < tokens.length; i++) {
    if ((tokens[i] as Token).stem !== words[0]) continue;
    let end = (tokens[i] as Token).end;
    let ok = true;
    for (let w = 1; w < words.length && ok; w++) {
      ok = false;
      for (let j = i + 1; j < tokens.length; j++) {
        const t = tokens[j] as Token;
        if (t.start > end + 1) break;
        if (t.start === end + 1 && t.stem === words[w]) {
          end = t.end;
          ok = true;
          break;
        }
      }
    }
    if (ok) return i;
  }
  return -1;
}

/** Whether a leaf matches in one text field; the index of the first matching token, or -1. */
function leafIn(q: Query, f: FieldText): number {
  switch (q.type) {
    case 'term':
      if (!f.tf.has(q.word)) return -1;
      return f.tokens.findIndex((t) => t.stem === q.word);
    case 'phrase':
      for (const w of q.words) if (!f.tf.has(w)) return -1;
      return phraseAt(f.tokens, q.words);
    case 'prefix':
      if (!someRaw(f, q.prefix)) return -1;
      return f.tokens.findIndex((t) => t.raw.startsWith(q.prefix));
    case 'regex':
      return q.re.matcher(f.text).find() ? 0 : -1;
    default:
      return -1;
  }
}

function codeMatches(code: string, prefix: boolean, values: readonly string[]): boolean {
  return values.some((v) => (prefix ? v.startsWith(code) : v === code));
}

function leafHas(q: Query, f: FieldText): boolean {
  switch (q.type) {
    case 'term':
      return f.tf.has(q.word);
    case 'prefix':
      return someRaw(f, q.prefix);
    default:
      return leafIn(q, f) !== -1;
  }
}

/** The plain interpreter: does `q` match the paper? */
export function matchesQuery(q: Query, doc: AnalyzedPaper): boolean {
  switch (q.type) {
    case 'and':
      return q.children.every((c) => matchesQuery(c, doc));
    case 'or':
      return q.children.some((c) => matchesQuery(c, doc));
    case 'not':
      return !matchesQuery(q.child, doc);
    case 'code':
      return codeMatches(q.code, q.prefix, q.field === 'category' ? doc.categories : doc.sources);
    default:
      for (const f of fieldsOf(q.field)) if (leafHas(q, doc[f])) return true;
      return false;
  }
}

/** Document frequencies for ranking; without them every word weighs the same. */
export interface CorpusStats {
  /** Papers in the corpus. */
  readonly papers: number;
  /** Papers whose title or abstract contains the stem. */
  df(stem: string): number;
  /** Average title and abstract lengths in words. */
  readonly avgTitle: number;
  readonly avgAbstract: number;
}

export const DEFAULT_STATS: CorpusStats = { papers: 1, df: () => 0, avgTitle: 10, avgAbstract: 180 };
const K1 = 1.2;
const B = 0.75;
/** A title match counts this many times an abstract match. */
export const TITLE_WEIGHT = 3;

function countStem(f: FieldText, stem: string): number {
  return f.tf.get(stem) ?? 0;
}

/** The BM25 weight of `tf` occurrences in a field of `len` words (shared with the compiled matcher). */
export function bm25(tf: number, len: number, avg: number, idf: number): number {
  if (tf === 0) return 0;
  return (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * len) / Math.max(avg, 1)));
}

/** Positive leaves: the terms a match is about (under an even number of NOTs), in query order. */
export function positiveLeaves(q: Query, out: Query[] = [], negated = false): Query[] {
  switch (q.type) {
    case 'and':
    case 'or':
      for (const c of q.children) positiveLeaves(c, out, negated);
      break;
    case 'not':
      positiveLeaves(q.child, out, !negated);
      break;
    default:
      if (!negated) out.push(q);
  }
  return out;
}

/**
 * The term a matched phrase is highlighted by: its stems with spaces, which `renderText` bolds
 * where they stand together (as written, as a hyphen compound or joined into one word).
 */
export function phraseTerm(words: readonly string[]): string {
  return words.join(' ');
}

/**
 * A BM25-style score over the positive terms that occur in the paper; title occurrences weigh
 * {@link TITLE_WEIGHT} times abstract ones. Also returns the words that matched, as they are
 * written in the paper, and each matched phrase as its {@link phraseTerm} (for highlighting).
 */
export function scoreMatch(
  q: Query,
  doc: AnalyzedPaper,
  stats: CorpusStats = DEFAULT_STATS,
): { score: number; terms: string[] } {
  let score = 0;
  const terms = new Set<string>();
  const idfOf = (stem: string) => {
    const df = stats.df(stem);
    return Math.log(1 + (stats.papers - df + 0.5) / (df + 0.5));
  };
  const addStem = (stem: string, weightFields: readonly TextField[], withTerms = true) => {
    const idf = idfOf(stem);
    for (const f of weightFields) {
      const field = doc[f];
      const tf = countStem(field, stem);
      if (tf === 0) continue;
      const avg = f === 'title' ? stats.avgTitle : stats.avgAbstract;
      score += (f === 'title' ? TITLE_WEIGHT : 1) * bm25(tf, field.tokens.length, avg, idf);
      if (withTerms) for (const raw of surfacesOf(field).get(stem) ?? []) terms.add(raw);
    }
  };
  for (const leaf of positiveLeaves(q)) {
    switch (leaf.type) {
      case 'term':
        addStem(leaf.word, fieldsOf(leaf.field));
        break;
      case 'phrase':
        if (fieldsOf(leaf.field).some((f) => phraseAt(doc[f].tokens, leaf.words) !== -1)) {
          // Scored word by word, highlighted as the phrase: its words alone elsewhere are not
          // what matched ("task" in a paper that matched `multi-task`).
          for (const w of leaf.words) addStem(w, fieldsOf(leaf.field), false);
          terms.add(phraseTerm(leaf.words));
        }
        break;
      case 'prefix':
        for (const f of fieldsOf(leaf.field)) {
          const hits = [...doc[f].raws].filter((r) => r.startsWith(leaf.prefix));
          if (hits.length === 0) continue;
          score += (f === 'title' ? TITLE_WEIGHT : 1) * bm25(hits.length, doc[f].tokens.length, 100, 1);
          for (const r of hits) terms.add(r);
        }
        break;
      case 'regex':
        for (const f of fieldsOf(leaf.field))
          if (leaf.re.matcher(doc[f].text).find()) score += f === 'title' ? TITLE_WEIGHT : 1;
        break;
      case 'code':
        score += 0.5;
        break;
      default:
        break;
    }
  }
  return { score: Math.round(score * 1000) / 1000, terms: [...terms] };
}

export interface ExplainedTerm {
  /** The term as written in the query. */
  term: string;
  /** Where it matched (`title`, `abstract`, `author`, `category`, `source`), or where it was looked for. */
  field: string;
  matched: boolean;
  /** For `NOT` terms: matching means the paper is excluded. */
  negated: boolean;
  snippet?: string;
}

export interface Explanation {
  matched: boolean;
  terms: ExplainedTerm[];
}

/** Which terms of `q` match which field of the paper, with a snippet around each hit. */
export function explainMatch(q: Query, doc: AnalyzedPaper): Explanation {
  const terms: ExplainedTerm[] = [];
  const visit = (node: Query, negated: boolean) => {
    switch (node.type) {
      case 'and':
      case 'or':
        for (const c of node.children) visit(c, negated);
        return;
      case 'not':
        visit(node.child, !negated);
        return;
      case 'code': {
        const values = node.field === 'category' ? doc.categories : doc.sources;
        const hit = values.find((v) => (node.prefix ? v.startsWith(node.code) : v === node.code));
        const t: ExplainedTerm = { term: node.text, field: node.field, matched: hit !== undefined, negated };
        if (hit) t.snippet = hit;
        terms.push(t);
        return;
      }
      default: {
        for (const f of fieldsOf(node.field)) {
          const at = leafIn(node, doc[f]);
          if (at === -1) continue;
          const t: ExplainedTerm = { term: node.text, field: f, matched: true, negated };
          t.snippet =
            node.type === 'regex'
              ? regexSnippet(node.re, doc[f].text)
              : snippet(doc[f].tokens, at, doc[f].text);
          terms.push(t);
          return;
        }
        terms.push({
          term: node.text,
          field: node.field === 'text' ? 'title/abstract' : node.field,
          matched: false,
          negated,
        });
      }
    }
  };
  visit(q, false);
  // A hyphenated word is a phrase OR a joined word: report it once, matched if either matched.
  const merged: ExplainedTerm[] = [];
  for (const t of terms) {
    const prev = merged.find((m) => m.term === t.term && m.negated === t.negated);
    if (!prev) merged.push(t);
    else if (!prev.matched && t.matched) merged.splice(merged.indexOf(prev), 1, t);
  }
  return { matched: matchesQuery(q, doc), terms: merged };
}

/** About 100 characters of the field around the token, cut at word boundaries. */
function snippet(tokens: readonly Token[], at: number, text: string): string {
  const token = tokens[at];
  if (!token) return '';
  const folded = foldText(text);
  const idx = folded.indexOf(token.raw);
  if (idx === -1) return cut(text, 0, 100);
  return cut(text, Math.max(0, idx - 40), idx + token.raw.length + 60);
}

function regexSnippet(re: import('re2js').RE2JS, text: string): string {
  const m = re.matcher(text);
  if (!m.find()) return '';
  return cut(text, Math.max(0, m.start() - 40), m.end() + 40);
}

function cut(text: string, from: number, to: number): string {
  let a = from;
  let b = Math.min(text.length, to);
  if (a > 0) {
    const space = text.indexOf(' ', a);
    a = space === -1 || space > a + 20 ? a : space + 1;
  }
  if (b < text.length) {
    const space = text.lastIndexOf(' ', b);
    b = space > a ? space : b;
  }
  return `${a > 0 ? '…' : ''}${text.slice(a, b).replace(/\s+/g, ' ').trim()}${b < text.length ? '…' : ''}`;
}

/** An explanation as lines of text. */
export function formatExplanation(e: Explanation): string {
  const lines = [e.matched ? 'matches' : 'does not match'];
  for (const t of e.terms) {
    const mark = t.matched
      ? t.negated
        ? '✗ excluded by'
        : '✓'
      : t.negated
        ? '✓ not found:'
        : '✗ not found:';
    const where = t.matched ? ` in ${t.field}` : ` (looked in ${t.field})`;
    lines.push(`  ${mark} ${t.negated ? 'NOT ' : ''}${t.term}${where}${t.snippet ? `: "${t.snippet}"` : ''}`);
  }
  return lines.join('\n');
}

export interface MatchHit {
  subscriptionId: string;
  score: number;
  /** Words of the paper that matched, for highlighting. */
  terms: string[];
}

/** Subscriptions compiled for matching papers (see `compileMatcher`). */
export interface Matcher {
  /** The subscriptions that match the paper, best score first (ties by subscription id). */
  match(doc: AnalyzedPaper): MatchHit[];
  /**
   * {@link match} into objects the matcher reuses: the first `n` of `hits`, valid until the next
   * call. For a caller done with each paper's hits before the next (the planner: ~3M hits a
   * 100k-paper cycle, each an object and an array of terms otherwise).
   */
  matchReused(
    doc: AnalyzedPaper,
    /**
     * The paper's title and abstract words as the search index read them (the paper's own
     * strings): matched from those instead of the text. Anything else is read from the text.
     */
    words?: PaperWords,
  ): {
    readonly hits: readonly MatchHit[];
    readonly n: number;
    /** Per hit, its subscription's index in {@link ids}: no lookup by id string for the caller. */
    readonly positions: Int32Array;
  };
  /** Lets go of the last paper matched (call after a batch: it may hold a whole feed's text). */
  release(): void;
  readonly size: number;
  /** The subscriptions' ids, in the order they were compiled. */
  readonly ids: readonly string[];
}
