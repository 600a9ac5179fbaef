/**
 * The filter language: lexer and recursive-descent parser. Errors are values that name the
 * problem and the 1-based column where it is.
 *
 *   query  := or
 *   or     := and (("OR" | "|") and)*
 *   and    := unary (["AND"] unary)*
 *   unary  := ("NOT" | "-") unary | primary
 *   primary:= [field ":"] (word | word"*" | "phrase" | /regex/[i] | "(" or ")")
 */
import { RE2JS } from 're2js';
import { analyzeTerm, foldText } from './analyze.js';

/** Where a term looks. `text` is title + abstract (no field given). */
export type Field = 'text' | 'title' | 'abstract' | 'author' | 'category' | 'source';
export const FIELDS: readonly Field[] = ['title', 'abstract', 'author', 'category', 'source'];

export type Query =
  /** One word (stemmed). */
  | { type: 'term'; field: Field; word: string; text: string }
  /** Consecutive words (stemmed). A hyphenated query word is a phrase of its parts OR its joined word. */
  | { type: 'phrase'; field: Field; words: string[]; text: string }
  /** Any word starting with `prefix` (folded, not stemmed). */
  | { type: 'prefix'; field: Field; prefix: string; text: string }
  /** A linear-time regular expression over the field's NFKC text. */
  | { type: 'regex'; field: Field; source: string; flags: string; re: RE2JS; text: string }
  /** A category or source name: exact (case-insensitive) or, with `*`, by prefix. */
  | { type: 'code'; field: 'category' | 'source'; code: string; prefix: boolean; text: string }
  | { type: 'and'; children: Query[] }
  | { type: 'or'; children: Query[] }
  | { type: 'not'; child: Query };

export interface QueryError {
  message: string;
  /** 1-based column in the query text. */
  column: number;
}

export type ParseResult = { ok: true; query: Query } | { ok: false; error: QueryError };

export const LIMITS = { length: 500, terms: 50, nesting: 10, minPrefix: 2 } as const;

type Tok =
  | { k: 'lparen' | 'rparen' | 'or' | 'and' | 'not' | 'minus'; col: number }
  | { k: 'field'; name: string; col: number }
  | { k: 'word'; text: string; col: number }
  | { k: 'phrase'; text: string; col: number }
  | { k: 'regex'; source: string; flags: string; col: number };

class Fail extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
  }
}

function fail(message: string, column: number): never {
  throw new Fail(`${message} at column ${column}`, column);
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\u3000';
/** Characters that end a bare word. */
const isBreak = (c: string) => isSpace(c) || c === '(' || c === ')' || c === '"' || c === '|';

function lex(text: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    const col = i + 1;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      toks.push({ k: c === '(' ? 'lparen' : 'rparen', col });
      i++;
      continue;
    }
    if (c === '|') {
      toks.push({ k: 'or', col });
      i++;
      continue;
    }
    if (c === '-' && (toks.length === 0 || atTermStart(text, i))) {
      // A leading minus negates; `-` followed by space or nothing is an error the parser names.
      toks.push({ k: 'minus', col });
      i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end === -1) fail('unclosed quote', col);
      toks.push({ k: 'phrase', text: text.slice(i + 1, end), col });
      i = end + 1;
      if (i < n && !isBreak(text[i] as string)) fail('a phrase must be followed by a space or )', i + 1);
      continue;
    }
    if (c === '/') {
      let j = i + 1;
      let source = '';
      while (j < n && text[j] !== '/') {
        if (text[j] === '\\' && j + 1 < n) {
          source += text.slice(j, j + 2);
          j += 2;
        } else source += text[j++];
      }
      if (j >= n) fail('unclosed regex (add a closing /)', col);
      j++;
      let flags = '';
      while (j < n && /[a-z]/i.test(text[j] as string)) flags += text[j++];
      for (const [k, f] of [...flags].entries()) {
        if (f !== 'i') fail(`unknown regex flag "${f}" (only i is allowed)`, j - flags.length + k + 1);
      }
      if (j < n && !isBreak(text[j] as string)) fail('a regex must be followed by a space or )', j + 1);
      toks.push({ k: 'regex', source, flags, col });
      i = j;
      continue;
    }
    // A bare word, maybe a field prefix `name:`.
    let j = i;
    while (j < n && !isBreak(text[j] as string)) j++;
    const word = text.slice(i, j);
    const colon = word.indexOf(':');
    if (colon > 0 && /^[A-Za-z]+$/.test(word.slice(0, colon))) {
      const name = word.slice(0, colon).toLowerCase();
      if (!(FIELDS as readonly string[]).includes(name)) {
        const hint = suggestField(name);
        fail(
          `unknown field "${word.slice(0, colon)}:"${hint ? ` (did you mean ${hint}:?)` : ` (fields: ${FIELDS.join(', ')})`}`,
          col,
        );
      }
      toks.push({ k: 'field', name, col });
      i += colon + 1;
      continue;
    }
    if (word === 'OR') toks.push({ k: 'or', col });
    else if (word === 'AND') toks.push({ k: 'and', col });
    else if (word === 'NOT') toks.push({ k: 'not', col });
    else toks.push({ k: 'word', text: word, col });
    i = j;
  }
  return toks;
}

/** A minus negates when it starts a term: after a space, a parenthesis, `|` or a field colon. */
function atTermStart(text: string, i: number): boolean {
  const prev = text[i - 1];
  return prev === undefined || isSpace(prev) || prev === '(' || prev === '|' || prev === ':';
}

function suggestField(name: string): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const f of FIELDS) {
    const d = editDistance(name, f);
    if (d < bestD) {
      bestD = d;
      best = f;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] as number;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] as number;
      dp[j] = Math.min(
        (dp[j] as number) + 1,
        (dp[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return dp[b.length] as number;
}

class Parser {
  private i = 0;
  private terms = 0;
  private depth = 0;

  constructor(
    private readonly toks: Tok[],
    private readonly length: number,
  ) {}

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  parse(): Query {
    if (this.toks.length === 0) fail('empty query: type some words to look for', 1);
    const q = this.or();
    const t = this.peek();
    if (t) {
      if (t.k === 'rparen') fail('unmatched )', t.col);
      fail('unexpected input', t.col);
    }
    return q;
  }

  private endCol(): number {
    return this.length + 1;
  }

  private or(): Query {
    const first = this.peek();
    if (first?.k === 'or') fail('OR needs something on both sides', first.col);
    const children = [this.and()];
    for (let t = this.peek(); t?.k === 'or'; t = this.peek()) {
      this.i++;
      const next = this.peek();
      if (!next || next.k === 'or' || next.k === 'rparen' || next.k === 'and') {
        fail('OR needs something on both sides', t.col);
      }
      children.push(this.and());
    }
    return children.length === 1 ? (children[0] as Query) : { type: 'or', children };
  }

  private and(): Query {
    const first = this.peek();
    if (first?.k === 'and') fail('AND needs something on both sides', first.col);
    const children = [this.unary()];
    for (;;) {
      const t = this.peek();
      if (!t || t.k === 'or' || t.k === 'rparen') break;
      if (t.k === 'and') {
        this.i++;
        const next = this.peek();
        if (!next || next.k === 'or' || next.k === 'rparen' || next.k === 'and') {
          fail('AND needs something on both sides', t.col);
        }
      }
      children.push(this.unary());
    }
    return children.length === 1 ? (children[0] as Query) : { type: 'and', children };
  }

  private unary(): Query {
    const t = this.peek();
    if (t?.k === 'not' || t?.k === 'minus') {
      this.i++;
      const next = this.peek();
      const what = t.k === 'not' ? 'NOT' : '-';
      if (!next || next.k === 'or' || next.k === 'and' || next.k === 'rparen') {
        fail(`${what} needs something after it`, t.col);
      }
      if (t.k === 'minus' && next.col !== t.col + 1)
        fail('- must touch the word it excludes (write -word)', t.col);
      return { type: 'not', child: this.unary() };
    }
    return this.primary(undefined);
  }

  private primary(field: { name: Field; col: number } | undefined): Query {
    const t = this.peek();
    if (!t) {
      if (field) fail(`${field.name}: needs a term, phrase or regex after it`, field.col);
      fail('the query ends too early', this.endCol());
    }
    const tok = t as Tok;
    switch (tok.k) {
      case 'lparen': {
        this.i++;
        if (++this.depth > LIMITS.nesting)
          fail(`too deeply nested: at most ${LIMITS.nesting} levels`, tok.col);
        if (this.peek()?.k === 'rparen') fail('empty parentheses', tok.col);
        if (!this.peek()) fail('unclosed parenthesis', tok.col);
        const inner = field ? this.withField(field, () => this.or()) : this.or();
        const close = this.peek();
        if (close?.k !== 'rparen') fail('unclosed parenthesis', tok.col);
        this.i++;
        this.depth--;
        return inner;
      }
      case 'field': {
        if (field) fail('a field cannot follow another field', tok.col);
        this.i++;
        const next = this.peek();
        if (
          !next ||
          next.col !== tok.col + tok.name.length + 1 ||
          next.k === 'rparen' ||
          next.k === 'or' ||
          next.k === 'and'
        ) {
          fail(`${tok.name}: needs a term, phrase or regex right after it`, tok.col);
        }
        if (next.k === 'not' || next.k === 'minus' || next.k === 'field') {
          fail(`${tok.name}: needs a term, phrase or regex right after it (put - before the field)`, tok.col);
        }
        return this.primary({ name: tok.name as Field, col: tok.col });
      }
      case 'word':
        this.i++;
        return this.word(tok.text, tok.col, this.fieldOf(field));
      case 'phrase':
        this.i++;
        return this.phrase(tok.text, tok.col, this.fieldOf(field));
      case 'regex':
        this.i++;
        return this.regex(tok.source, tok.flags, tok.col, this.fieldOf(field));
      case 'rparen':
        return fail('unmatched )', tok.col);
      default:
        return fail('unexpected input', tok.col);
    }
  }

  private inherited: { name: Field; col: number } | undefined;

  private withField<T>(field: { name: Field; col: number }, fn: () => T): T {
    const prev = this.inherited;
    this.inherited = field;
    try {
      return fn();
    } finally {
      this.inherited = prev;
    }
  }

  private fieldOf(field: { name: Field; col: number } | undefined): Field {
    return field?.name ?? this.inherited?.name ?? 'text';
  }

  private countTerm(col: number): void {
    if (++this.terms > LIMITS.terms) fail(`too many terms: at most ${LIMITS.terms}`, col);
  }

  private word(text: string, col: number, field: Field): Query {
    this.countTerm(col);
    if (field === 'category' || field === 'source') return code(text, col, field);
    const star = text.indexOf('*');
    if (star !== -1) {
      if (star !== text.length - 1) fail('* only works at the end of a word (prefix*)', col + star);
      const prefix = foldText(text.slice(0, -1));
      if (prefix === '') fail('* needs a prefix before it (e.g. robot*)', col);
      if ([...prefix].length < LIMITS.minPrefix)
        fail(`prefix "${text}" is too short: at least ${LIMITS.minPrefix} characters before *`, col);
      if (!/^[\p{L}\p{N}\p{M}]+$/u.test(prefix))
        fail(`a prefix must be letters and digits only ("${text}")`, col);
      return { type: 'prefix', field, prefix, text };
    }
    const a = analyzeTerm(text);
    if (a.parts.length === 0) fail(`nothing to search for in "${text}": use letters or digits`, col);
    if (a.parts.length === 1) return { type: 'term', field, word: a.parts[0] as string, text };
    const phrase: Query = { type: 'phrase', field, words: a.parts, text };
    if (a.joined === undefined) return phrase;
    return { type: 'or', children: [phrase, { type: 'term', field, word: a.joined, text }] };
  }

  private phrase(text: string, col: number, field: Field): Query {
    this.countTerm(col);
    if (field === 'category' || field === 'source') {
      fail(
        `${field}: takes a name like ${field === 'category' ? 'cs.CL or cs.*' : 'arxiv-cs-cl'}, not a phrase`,
        col,
      );
    }
    if (text.trim() === '') fail('empty phrase', col);
    const tokens = analyzeTerm(text);
    // A phrase keeps compounds as their parts: "multi-task learning" = multi task learning.
    if (tokens.parts.length === 0) fail(`nothing to search for in the phrase "${text}"`, col);
    if (tokens.parts.length === 1)
      return { type: 'term', field, word: tokens.parts[0] as string, text: `"${text}"` };
    return { type: 'phrase', field, words: tokens.parts, text: `"${text}"` };
  }

  private regex(source: string, flags: string, col: number, field: Field): Query {
    this.countTerm(col);
    if (source === '') fail('empty regex', col);
    let re: RE2JS;
    try {
      re = compileRegex(source, flags);
    } catch (err) {
      const msg = (err instanceof Error ? err.message : String(err))
        .replace(/^error parsing regexp: /, '')
        .replace(/missing closing (\S)/, 'missing $1')
        .replace(/: `.*`$/s, '');
      return fail(`invalid regex: ${msg}`, col);
    }
    return { type: 'regex', field, source, flags, re, text: `/${source}/${flags}` };
  }
}

function code(text: string, col: number, field: 'category' | 'source'): Query {
  const star = text.indexOf('*');
  if (star !== -1 && star !== text.length - 1) fail('* only works at the end of a name', col + star);
  const name = foldText(star === -1 ? text : text.slice(0, -1));
  if (name === '') fail(`${field}: needs a name before *`, col);
  if (!/^[\p{L}\p{N}._-]+$/u.test(name)) fail(`"${text}" is not a ${field} name`, col);
  return { type: 'code', field, code: name, prefix: star !== -1, text };
}

/** Parses a filter. Never throws: a bad query gives `{ ok: false, error: { message, column } }`. */
export function parseQuery(text: string): ParseResult {
  if (text.length > LIMITS.length) {
    return {
      ok: false,
      error: {
        message: `query too long: ${text.length} characters (at most ${LIMITS.length}) at column ${LIMITS.length + 1}`,
        column: LIMITS.length + 1,
      },
    };
  }
  try {
    return { ok: true, query: new Parser(lex(text), text.length).parse() };
  } catch (err) {
    if (err instanceof Fail)
      return {
        ok: false,
        error: {
          message: err.message.replace(
            /invalid regex: (.*) at column (\d+)$/,
            'invalid regex at column $2: $1',
          ),
          column: err.column,
        },
      };
    throw err;
  }
}

/** The query as canonical text (round-trips through {@link parseQuery} to the same tree). */
export function formatQuery(q: Query): string {
  const prefix = (f: Field) => (f === 'text' ? '' : `${f}:`);
  switch (q.type) {
    case 'term':
      return `${prefix(q.field)}${q.word}`;
    case 'phrase':
      return `${prefix(q.field)}"${q.words.join(' ')}"`;
    case 'prefix':
      return `${prefix(q.field)}${q.prefix}*`;
    case 'regex':
      return `${prefix(q.field)}/${q.source}/${q.flags}`;
    case 'code':
      return `${q.field}:${q.code}${q.prefix ? '*' : ''}`;
    case 'not':
      return `NOT ${wrap(q.child, 'not')}`;
    case 'and':
      return q.children.map((c) => wrap(c, 'and')).join(' ');
    case 'or':
      return q.children.map((c) => wrap(c, 'or')).join(' OR ');
  }
}

function wrap(q: Query, parent: 'and' | 'or' | 'not'): string {
  const needs = q.type === 'or' ? parent !== 'or' : q.type === 'and' ? parent === 'not' : false;
  const s = formatQuery(q);
  return needs ? `(${s})` : s;
}

function compileRegex(source: string, flags: string): RE2JS {
  return RE2JS.compile(source, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
}

/** A query as data only (what crosses to another thread: its regexes as source and flags). */
export function plainQuery(q: Query): Query {
  return JSON.parse(JSON.stringify(q, (key, value) => (key === 're' ? undefined : value))) as Query;
}

/** A query from {@link plainQuery}, its regexes compiled again. */
export function reviveQuery(q: Query): Query {
  switch (q.type) {
    case 'regex':
      return { ...q, re: compileRegex(q.source, q.flags) };
    case 'and':
    case 'or':
      return { type: q.type, children: q.children.map(reviveQuery) };
    case 'not':
      return { type: 'not', child: reviveQuery(q.child) };
    default:
      return q;
  }
}
