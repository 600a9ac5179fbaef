/**
 * Evaluating queries on papers: the analysed paper, the plain interpreter, BM25-style scores,
 * explanations, and the compiled matcher that evaluates only the subscriptions a paper's words
 * can satisfy.
 */
import type { Paper } from '../paper.js';
import { foldText, type Token, tokenize } from './analyze.js';
import type { Field, Query } from './parse.js';

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
  id: string;
  title: FieldText;
  abstract: FieldText;
  author: FieldText;
  /** Folded category codes and source names. */
  categories: string[];
  sources: string[];
}

const NON_ASCII_TEXT = /[^\p{ASCII}]/u;
const nfkc = (s: string) => (NON_ASCII_TEXT.test(s) ? s.normalize('NFKC') : s);

/** Author names are analysed one by one, this many positions apart, so phrases stay inside a name. */
const AUTHOR_GAP = 1000;

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

export function analyzePaper(p: MatchablePaper): AnalyzedPaper {
  const authorTokens: Token[] = [];
  for (const [i, a] of p.authors.entries()) authorTokens.push(...tokenize(a, i * AUTHOR_GAP));
  return {
    id: p.id,
    title: fieldText(nfkc(p.title), tokenize(p.title)),
    abstract: fieldText(nfkc(p.abstract), tokenize(p.abstract)),
    author: fieldText(nfkc(p.authors.join(', ')), authorTokens),
    categories: p.categories.map(foldText),
    sources: p.sources.map(foldText),
  };
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

const DEFAULT_STATS: CorpusStats = { papers: 1, df: () => 0, avgTitle: 10, avgAbstract: 180 };
const K1 = 1.2;
const B = 0.75;
/** A title match counts this many times an abstract match. */
const TITLE_WEIGHT = 3;

function countStem(f: FieldText, stem: string): number {
  return f.tf.get(stem) ?? 0;
}

function bm25(tf: number, len: number, avg: number, idf: number): number {
  if (tf === 0) return 0;
  return (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * len) / Math.max(avg, 1)));
}

/** Positive leaves: the terms a match is about (under an even number of NOTs). */
function positiveLeaves(q: Query, out: Query[] = [], negated = false): Query[] {
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
 * A BM25-style score over the positive terms that occur in the paper; title occurrences weigh
 * {@link TITLE_WEIGHT} times abstract ones. Also returns the words that matched, as they are
 * written in the paper (for highlighting).
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
  const addStem = (stem: string, weightFields: readonly TextField[]) => {
    const idf = idfOf(stem);
    for (const f of weightFields) {
      const field = doc[f];
      const tf = countStem(field, stem);
      if (tf === 0) continue;
      const avg = f === 'title' ? stats.avgTitle : stats.avgAbstract;
      score += (f === 'title' ? TITLE_WEIGHT : 1) * bm25(tf, field.tokens.length, avg, idf);
      for (const raw of surfacesOf(field).get(stem) ?? []) terms.add(raw);
    }
  };
  for (const leaf of positiveLeaves(q)) {
    switch (leaf.type) {
      case 'term':
        addStem(leaf.word, fieldsOf(leaf.field));
        break;
      case 'phrase':
        if (fieldsOf(leaf.field).some((f) => phraseAt(doc[f].tokens, leaf.words) !== -1)) {
          for (const w of leaf.words) addStem(w, fieldsOf(leaf.field));
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

// ---------------------------------------------------------------------------------------------
// The compiled matcher.

/**
 * Index keys a document has: `w:<stem>` for title/abstract words, `a:<stem>` for author words,
 * `p:<first two letters>` of title/abstract words, `q:<two letters>` of author words,
 * `c:<category>` and `s:<source>`.
 */
export function documentKeys(doc: AnalyzedPaper): Set<string> {
  const keys = new Set<string>();
  for (const f of [doc.title, doc.abstract]) {
    for (const s of f.tf.keys()) keys.add(`w:${s}`);
    for (const r of f.raws) {
      keys.add(`p2:${r.slice(0, 2)}`);
      if (r.length >= 3) keys.add(`p3:${r.slice(0, 3)}`);
      if (r.length >= 4) keys.add(`p4:${r.slice(0, 4)}`);
      if (r.length >= 5) keys.add(`p5:${r.slice(0, 5)}`);
    }
  }
  for (const s of doc.author.tf.keys()) keys.add(`a:${s}`);
  for (const r of doc.author.raws) {
    keys.add(`q2:${r.slice(0, 2)}`);
    if (r.length >= 3) keys.add(`q3:${r.slice(0, 3)}`);
    if (r.length >= 4) keys.add(`q4:${r.slice(0, 4)}`);
    if (r.length >= 5) keys.add(`q5:${r.slice(0, 5)}`);
  }
  for (const c of doc.categories) {
    keys.add(`c:${c}`);
    keys.add(`cp:${c.slice(0, 2)}`);
  }
  for (const s of doc.sources) {
    keys.add(`s:${s}`);
    keys.add(`sp:${s.slice(0, 2)}`);
  }
  return keys;
}

/** The key of a prefix term: its first four, three or two letters (the longest it has). */
export function prefixKey(field: Field, prefix: string): string {
  const n = Math.min(5, prefix.length);
  return `${field === 'author' ? 'q' : 'p'}${n}:${prefix.slice(0, n)}`;
}

/** How common a key is likely to be when no statistics are known: category codes are common. */
function keyWeight(key: string, listLength: number): number {
  const kind = key.slice(0, key.indexOf(':'));
  const base: Record<string, number> = {
    w: 1,
    a: 1,
    p4: 50,
    q4: 50,
    p3: 200,
    q3: 200,
    p2: 1000,
    q2: 1000,
    c: 2000,
    s: 2000,
    cp: 5000,
    sp: 5000,
  };
  return (base[kind] ?? 1) + listLength;
}

/**
 * Keys one of which every matching document must have, or `undefined` when the query can match
 * without any (negations, regexes). `rank` picks, for an AND, the child whose keys are rarest.
 */
export function requiredKeys(
  q: Query,
  rank: (keys: string[]) => number = (k) => k.length,
): string[] | undefined {
  switch (q.type) {
    case 'term':
      return q.field === 'author' ? [`a:${q.word}`] : [`w:${q.word}`];
    case 'phrase': {
      // The longest word is usually the rarest.
      const w = [...q.words].sort((a, b) => b.length - a.length)[0] as string;
      return q.field === 'author' ? [`a:${w}`] : [`w:${w}`];
    }
    case 'prefix':
      // Three letters when the prefix has them: far fewer papers share them than two.
      return [prefixKey(q.field, q.prefix)];
    case 'code':
      return [
        q.prefix
          ? `${q.field === 'category' ? 'cp' : 'sp'}:${q.code.slice(0, 2)}`
          : `${q.field === 'category' ? 'c' : 's'}:${q.code}`,
      ];
    case 'regex':
    case 'not':
      return undefined;
    case 'or': {
      const all: string[] = [];
      for (const c of q.children) {
        const k = requiredKeys(c, rank);
        if (k === undefined) return undefined;
        all.push(...k);
      }
      return [...new Set(all)];
    }
    case 'and': {
      let best: string[] | undefined;
      let bestRank = Number.POSITIVE_INFINITY;
      for (const c of q.children) {
        const k = requiredKeys(c, rank);
        if (k === undefined) continue;
        const r = rank(k);
        if (r < bestRank) {
          best = k;
          bestRank = r;
        }
      }
      return best;
    }
  }
}

export interface MatchHit {
  subscriptionId: string;
  score: number;
  /** Words of the paper that matched, for highlighting. */
  terms: string[];
}

export interface Matcher {
  match(doc: AnalyzedPaper): MatchHit[];
  readonly size: number;
}

/**
 * Compiles subscriptions into an index from keys to the subscriptions that need them, so a paper
 * evaluates only the subscriptions its words can satisfy (plus those that can match without any
 * word). Answers are exactly the interpreter's; the index only skips certain failures.
 */
export function compileMatcher(
  subs: ReadonlyArray<{ id: string; query: Query }>,
  opts: { stats?: CorpusStats } = {},
): Matcher {
  const stats = opts.stats;
  const byKey = new Map<string, number[]>();
  const always: number[] = [];
  // Prefer keys that are rare in the corpus, else short candidate lists so far.
  const rank = (keys: string[]) =>
    stats
      ? keys.reduce(
          (n, k) =>
            n +
            (k.startsWith('w:')
              ? stats.df(k.slice(2))
              : k.startsWith('p:')
                ? stats.papers
                : stats.papers / 10),
          0,
        )
      : keys.reduce(
          (n, k) => n + (byKey.get(k)?.length ?? 0) + (k.startsWith('p:') || k.startsWith('q:') ? 1000 : 1),
          0,
        );
  for (const [i, s] of subs.entries()) {
    const keys = requiredKeys(s.query, rank);
    if (keys === undefined) always.push(i);
    else
      for (const k of keys) {
        const list = byKey.get(k);
        if (list) list.push(i);
        else byKey.set(k, [i]);
      }
  }
  // Keys by kind, so a paper is looked up by its own words without building key strings.
  const kinds = new Map<string, Map<string, number[]>>();
  for (const [key, list] of byKey) {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    let m = kinds.get(kind);
    if (!m) {
      m = new Map();
      kinds.set(kind, m);
    }
    m.set(key.slice(colon + 1), list);
  }
  const empty = new Map<string, number[]>();
  const words = kinds.get('w') ?? empty;
  const authors = kinds.get('a') ?? empty;
  const prefixes2 = kinds.get('p2') ?? empty;
  const prefixes3 = kinds.get('p3') ?? empty;
  const prefixes4 = kinds.get('p4') ?? empty;
  const prefixes5 = kinds.get('p5') ?? empty;
  const authorPrefixes5 = kinds.get('q5') ?? empty;
  const authorPrefixes2 = kinds.get('q2') ?? empty;
  const authorPrefixes3 = kinds.get('q3') ?? empty;
  const authorPrefixes4 = kinds.get('q4') ?? empty;
  const cats = kinds.get('c') ?? empty;
  const catPrefixes = kinds.get('cp') ?? empty;
  const srcs = kinds.get('s') ?? empty;
  const srcPrefixes = kinds.get('sp') ?? empty;
  const seen = new Uint32Array(subs.length);
  let epoch = 0;
  // Defined once, not per paper: the candidates a key selects, each once per paper.
  const candidates: number[] = [];
  const collect = (map: Map<string, number[]>, key: string): void => {
    const list = map.get(key);
    if (list === undefined) return;
    for (const i of list) {
      if (seen[i] !== epoch) {
        seen[i] = epoch;
        candidates.push(i);
      }
    }
  };
  const collectPrefixes = (map: Map<string, number[]>, raws: Set<string>, n: number): void => {
    if (map.size === 0) return;
    for (const r of raws) if (r.length >= n) collect(map, n === r.length ? r : r.slice(0, n));
  };
  return {
    size: subs.length,
    match(doc) {
      epoch++;
      if (epoch === 0xffffffff) {
        seen.fill(0);
        epoch = 1;
      }
      candidates.length = 0;
      for (const f of [doc.title, doc.abstract]) {
        if (words.size > 0) for (const w of f.tf.keys()) collect(words, w);
        collectPrefixes(prefixes2, f.raws, 2);
        collectPrefixes(prefixes3, f.raws, 3);
        collectPrefixes(prefixes4, f.raws, 4);
        collectPrefixes(prefixes5, f.raws, 5);
      }
      if (authors.size > 0) for (const w of doc.author.tf.keys()) collect(authors, w);
      collectPrefixes(authorPrefixes2, doc.author.raws, 2);
      collectPrefixes(authorPrefixes3, doc.author.raws, 3);
      collectPrefixes(authorPrefixes4, doc.author.raws, 4);
      collectPrefixes(authorPrefixes5, doc.author.raws, 5);
      for (const c of doc.categories) {
        collect(cats, c);
        collect(catPrefixes, c.slice(0, 2));
      }
      for (const x of doc.sources) {
        collect(srcs, x);
        collect(srcPrefixes, x.slice(0, 2));
      }
      for (const i of always) {
        if (seen[i] !== epoch) {
          seen[i] = epoch;
          candidates.push(i);
        }
      }
      const hits: MatchHit[] = [];
      for (const i of candidates) {
        const s = subs[i] as { id: string; query: Query };
        if (!matchesQuery(s.query, doc)) continue;
        const { score, terms } = scoreMatch(s.query, doc, stats);
        hits.push({ subscriptionId: s.id, score, terms });
      }
      hits.sort((a, b) => b.score - a.score || a.subscriptionId.localeCompare(b.subscriptionId));
      return hits;
    },
  };
}
