/**
 * Extractive TL;DRs and the list of a paper's links.
 *
 * Pure: plain strings in, plain strings out. The TL;DR is one sentence of the abstract — the
 * one that says what the paper contributes, else the first — with the LaTeX that arXiv
 * abstracts carry ($O(n^2)$, \textbf{…}, \%, \cite{…}) turned into readable text.
 */
import { arxivLinks, findCodeLinks, type Paper } from './paper.js';

/** Options for {@link summarize}. */
export interface SummaryOptions {
  /** Longest TL;DR in UTF-16 code units (default 280, the length of a short post). */
  maxLength?: number;
}

/** The default TL;DR budget. */
export const TLDR_MAX = 280;

const ELLIPSIS = '…';

/**
 * A TL;DR of at most `maxLength` (280) characters from an abstract: the first sentence stating
 * the contribution ("we propose / introduce / present …", "this paper proposes …"), else the
 * first weaker one ("in this work, we …", "we develop / release …"), else the first sentence. A
 * sentence longer than the budget is cut at a word boundary and ends with "…". Empty for an
 * empty abstract.
 */
export function summarize(abstract: string, opts: SummaryOptions = {}): string {
  const max = Math.max(1, opts.maxLength ?? TLDR_MAX);
  const text = cleanLatex(abstract);
  if (text === '') return '';
  const sentences = splitSentences(text);
  const chosen =
    sentences.find((s) => CONTRIBUTION.test(s)) ??
    sentences.find((s) => WEAK_CONTRIBUTION.test(s)) ??
    sentences[0] ??
    text;
  return truncateAtWord(chosen, max);
}

// "We propose", "we also introduce", "we further present", "Here, we present", "this paper
// proposes": the authors announce what they contribute.
const CONTRIBUTION =
  /\b(?:we\s+(?:(?:also|then|further|here|now|first|thus|therefore|hence|instead|additionally|finally|newly|\w+ly)\s+)?(?:propose|introduce|present)s?\b|(?:this|our|the present)\s+(?:paper|work|article|study|report|letter)\s+(?:(?:also|further|first)\s+)?(?:proposes|introduces|presents|develops|describes)\b)/i;
// Weaker: the paper announces something, but not necessarily its main contribution ("In this
// work, we alleviate this gap.", "We also release code"): used only when no sentence above is.
const WEAK_CONTRIBUTION =
  /\b(?:we\s+(?:(?:also|then|further|here|now|first|\w+ly)\s+)?(?:develop|release|design|build|devise|construct|contribute|offer|unveil|open-source)\b|in\s+this\s+(?:paper|work|article|study|report|letter),?\s+we\b)/i;

/**
 * Cuts `text` to at most `max` UTF-16 code units at a word boundary, ending with "…" when
 * anything was cut. Never splits a word (unless a single word is longer than the budget, then
 * it is cut between code points) and never leaves trailing punctuation before the ellipsis.
 */
export function truncateAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(0, max));
  const room = max - ELLIPSIS.length;
  // The last whitespace at or before `room` ends the last whole word that fits.
  let cut = -1;
  for (let i = room; i > 0; i--) {
    if (/\s/.test(text[i] ?? ' ')) {
      cut = i;
      break;
    }
  }
  let head: string;
  if (cut > 0) head = text.slice(0, cut);
  else head = sliceCodePoints(text, room);
  head = head.replace(/[\s,;:([{–—-]+$/u, '');
  if (head === '') head = sliceCodePoints(text, room);
  return head + ELLIPSIS;
}

/** The longest prefix of `text` within `max` UTF-16 code units that does not split a code point. */
export function sliceCodePoints(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const c = text.charCodeAt(end - 1);
  // A high surrogate at the end would be half of an astral character (an emoji).
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return text.slice(0, end).replace(/[\u200d\ufe0e\ufe0f]+$/u, '');
}

// ---------------------------------------------------------------------------------------------
// Sentences

/** Abbreviations whose period does not end a sentence (lower-cased, without the final period). */
const ABBREVIATIONS = new Set([
  'e.g',
  'i.e',
  'al',
  'vs',
  'cf',
  'fig',
  'figs',
  'eq',
  'eqs',
  'sec',
  'secs',
  'tab',
  'ref',
  'refs',
  'no',
  'nos',
  'approx',
  'resp',
  'w.r.t',
  'dr',
  'mr',
  'ms',
  'prof',
  'st',
  'ca',
  'viz',
  'incl',
  'esp',
  'vol',
  'ch',
  'pp',
  'p',
  'et',
]);

/**
 * Splits prose into sentences. A sentence ends at `.`, `!` or `?` (with any closing quotes or
 * brackets) followed by whitespace and a character that can start a sentence — not lower
 * case. Abbreviations ("e.g.", "et al.", "vs.", "Fig."), initials ("J. Smith"), decimals
 * ("3.5") and URLs ("github.com/a.b") never end one.
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  const re = /[.!?]+["'”’)\]]*(?=\s+(\S))/gu;
  let start = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const next = m[1] ?? '';
    if (/\p{Ll}/u.test(next)) continue;
    const end = m.index + m[0].length;
    if (m[0].startsWith('.') && !endsSentence(text.slice(start, m.index))) continue;
    const s = text.slice(start, end).trim();
    if (s !== '') out.push(s);
    start = end;
  }
  const rest = text.slice(start).trim();
  if (rest !== '') out.push(rest);
  return out;
}

/** Whether a period after `before` ends a sentence, judging by the word it follows. */
function endsSentence(before: string): boolean {
  const word = /(\S+)$/.exec(before)?.[1] ?? '';
  if (word === '') return true;
  // A URL ending the sentence ("… at https://github.com/a/b. We …") does end it.
  if (/^\(?https?:\/\//i.test(word)) return true;
  const bare = word.replace(/^[("'“‘[]+/u, '');
  if (ABBREVIATIONS.has(bare.toLowerCase())) return false;
  // An initial: "J. Smith", "A. B. Author".
  return !/^\p{Lu}$/u.test(bare);
}

// ---------------------------------------------------------------------------------------------
// LaTeX

/** Macros that stand for a character or a short word. */
const SYMBOLS: Record<string, string> = {
  alpha: 'α',
  beta: 'β',
  gamma: 'γ',
  delta: 'δ',
  epsilon: 'ε',
  varepsilon: 'ε',
  zeta: 'ζ',
  eta: 'η',
  theta: 'θ',
  vartheta: 'ϑ',
  iota: 'ι',
  kappa: 'κ',
  lambda: 'λ',
  mu: 'μ',
  nu: 'ν',
  xi: 'ξ',
  pi: 'π',
  rho: 'ρ',
  sigma: 'σ',
  tau: 'τ',
  upsilon: 'υ',
  phi: 'φ',
  varphi: 'φ',
  chi: 'χ',
  psi: 'ψ',
  omega: 'ω',
  Gamma: 'Γ',
  Delta: 'Δ',
  Theta: 'Θ',
  Lambda: 'Λ',
  Xi: 'Ξ',
  Pi: 'Π',
  Sigma: 'Σ',
  Upsilon: 'Υ',
  Phi: 'Φ',
  Psi: 'Ψ',
  Omega: 'Ω',
  times: '×',
  cdot: '·',
  cdots: '⋯',
  ldots: '…',
  dots: '…',
  leq: '≤',
  le: '≤',
  geq: '≥',
  ge: '≥',
  neq: '≠',
  ne: '≠',
  approx: '≈',
  sim: '~',
  simeq: '≃',
  equiv: '≡',
  propto: '∝',
  ll: '≪',
  gg: '≫',
  pm: '±',
  mp: '∓',
  infty: '∞',
  partial: '∂',
  nabla: '∇',
  sum: 'Σ',
  prod: '∏',
  int: '∫',
  sqrt: '√',
  in: '∈',
  notin: '∉',
  subset: '⊂',
  subseteq: '⊆',
  supset: '⊃',
  cup: '∪',
  cap: '∩',
  emptyset: '∅',
  forall: '∀',
  exists: '∃',
  neg: '¬',
  land: '∧',
  lor: '∨',
  to: '→',
  rightarrow: '→',
  leftarrow: '←',
  Rightarrow: '⇒',
  Leftarrow: '⇐',
  leftrightarrow: '↔',
  mapsto: '↦',
  uparrow: '↑',
  downarrow: '↓',
  circ: '∘',
  ast: '*',
  star: '⋆',
  dagger: '†',
  ddagger: '‡',
  ell: 'ℓ',
  hbar: 'ℏ',
  langle: '⟨',
  rangle: '⟩',
  mid: '|',
  top: '⊤',
  bot: '⊥',
  checkmark: '✓',
  degree: '°',
  log: 'log',
  ln: 'ln',
  exp: 'exp',
  min: 'min',
  max: 'max',
  arg: 'arg',
  argmin: 'argmin',
  argmax: 'argmax',
  sin: 'sin',
  cos: 'cos',
  tanh: 'tanh',
  det: 'det',
  lim: 'lim',
  sup: 'sup',
  inf: 'inf',
  Pr: 'Pr',
  eg: 'e.g.',
  ie: 'i.e.',
  etal: 'et al.',
  wrt: 'w.r.t.',
  vs: 'vs.',
  etc: 'etc.',
  LaTeX: 'LaTeX',
  TeX: 'TeX',
  textasciitilde: '~',
  textbackslash: '\\',
  S: '§',
  textemdash: '—',
  textendash: '–',
};
/** Macros that only change spacing or sizing: dropped. */
const DROPPED = new Set([
  'left',
  'right',
  'big',
  'Big',
  'bigg',
  'Bigg',
  'bigl',
  'bigr',
  'displaystyle',
  'textstyle',
  'limits',
  'nolimits',
  'quad',
  'qquad',
  'noindent',
  'newline',
  'par',
  'em',
  'bf',
  'it',
  'rm',
  'tt',
  'sf',
  'sc',
  'small',
  'large',
  'Large',
  'footnotesize',
  'normalsize',
  'centering',
  'xspace',
  'hfill',
  'vspace',
  'hspace',
  'protect',
]);
/** Macros whose argument is dropped with them: citations, labels, footnotes. */
const DROPPED_WITH_ARG = new Set([
  'cite',
  'citep',
  'citet',
  'citealp',
  'citeauthor',
  'citeyear',
  'ref',
  'eqref',
  'autoref',
  'cref',
  'Cref',
  'label',
  'footnote',
  'thanks',
  'vspace',
  'hspace',
]);
/** Alphabet macros with a readable Unicode form for a single capital letter. */
const DOUBLE_STRUCK: Record<string, string> = {
  R: 'ℝ',
  N: 'ℕ',
  Z: 'ℤ',
  Q: 'ℚ',
  C: 'ℂ',
  E: '𝔼',
  P: 'ℙ',
};

const URL_SPAN = /\bhttps?:\/\/[^\s<>"'{}]+/gi;

/**
 * LaTeX remnants made readable: math delimiters removed (`$O(n^2)$` → `O(n^2)`), formatting
 * macros replaced by their argument (`\textbf{x}` → `x`), Greek and common math macros by
 * their symbol (`\alpha` → `α`), `\%` → `%`, `~` → space, citations dropped, stray braces
 * removed, unknown macros by their name (`\projectname` → `projectname`), whitespace folded.
 * URLs are left exactly as they are.
 */
export function cleanLatex(input: string): string {
  // \url{…} and \href{…}{…} first, so the URL inside is protected like any other.
  let text = input
    .replace(/\\url\{([^{}]*)\}/g, ' $1 ')
    .replace(/\\href\{([^{}]*)\}\{([^{}]*)\}/g, '$2 ($1)');
  let out = '';
  let last = 0;
  for (const m of text.matchAll(URL_SPAN)) {
    out += cleanProse(text.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  out += cleanProse(text.slice(last));
  text = out
    .replace(/\s+/g, ' ')
    // Removing a citation leaves "models ." or "( , )": close the gaps it left.
    .replace(/\s+([.,;:!?)\]])/g, '$1')
    .replace(/([([])\s+/g, '$1')
    .replace(/\(\s*[,;]?\s*\)/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return text;
}

function cleanProse(s: string): string {
  if (!/[\\$~{}`]|''|--/.test(s)) return s;
  let t = s;
  // Escaped specials are literal text: protect them from the passes below.
  t = t.replace(/\\([%$&#_{}])/g, (_m, c: string) => `\uE000${c.charCodeAt(0)}\uE001`);
  // Math: $$…$$, $…$, \(…\), \[…\] → their content (macros are handled below).
  t = t
    .replace(/\$\$([\s\S]*?)\$\$/g, ' $1 ')
    .replace(/\$([^$]*)\$/g, '$1')
    .replace(/\\\(([\s\S]*?)\\\)/g, '$1')
    .replace(/\\\[([\s\S]*?)\\\]/g, ' $1 ');
  // An unmatched "$" (a price written without "\$") is ordinary text; leave it.
  // {\em x}, {\bf x}: the braces group the text the switch applies to.
  t = t.replace(/\{\\(?:em|bf|it|rm|tt|sf|sc|sl|bfseries|itshape)\s+([^{}]*)\}/g, '$1');
  // Fractions and friends, innermost arguments first.
  for (let i = 0; i < 4 && /\\[a-zA-Z]+\*?\s*(?:\[[^\]]*\])?\{/.test(t); i++) {
    t = t
      .replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, (_m, a: string, b: string) => `${a}/${b}`)
      .replace(/\\sqrt\s*\{([^{}]*)\}/g, '√$1')
      .replace(/\\mathbb\s*\{([A-Z])\}/g, (_m, c: string) => DOUBLE_STRUCK[c] ?? c)
      .replace(/\\([a-zA-Z]+)\*?\s*(?:\[[^\]]*\])?\{([^{}]*)\}/g, (_m, name: string, arg: string) =>
        DROPPED_WITH_ARG.has(name) ? '' : arg,
      );
  }
  // Argument-less macros: symbols, words, spacing.
  t = t.replace(/\\([a-zA-Z]+)\s?/g, (m, name: string) => {
    const sym = SYMBOLS[name];
    const trailing = m.endsWith(' ') ? ' ' : '';
    if (sym !== undefined) return sym + trailing;
    if (DROPPED.has(name) || DROPPED_WITH_ARG.has(name)) return trailing;
    return name + trailing;
  });
  t = t
    .replace(/\\[,;:! ]/g, ' ')
    .replace(/\\\\/g, ' ')
    .replace(/\\/g, '')
    .replace(/[{}]/g, '')
    .replace(/~/g, ' ')
    .replace(/``|''/g, '"')
    .replace(/---/g, '—')
    .replace(/(\d)--(\d)/g, '$1–$2');
  return t.replace(/\uE000(\d+)\uE001/g, (_m, code: string) => String.fromCharCode(Number(code)));
}

// ---------------------------------------------------------------------------------------------
// Links

/** One link of a paper, labelled for display. */
export interface PaperLink {
  label: string;
  url: string;
}

/** Labels for code and project hosts; anything else is labelled by its host name. */
const HOST_LABELS: ReadonlyArray<[RegExp, string]> = [
  [/(?:^|\.)github\.com$/, 'GitHub'],
  [/(?:^|\.)gitlab\.com$/, 'GitLab'],
  [/(?:^|\.)bitbucket\.org$/, 'Bitbucket'],
  [/(?:^|\.)codeberg\.org$/, 'Codeberg'],
  [/(?:^|\.)huggingface\.co$/, 'Hugging Face'],
  [/(?:^|\.)hf\.co$/, 'Hugging Face'],
  [/(?:^|\.)github\.io$/, 'Project page'],
  [/(?:^|\.)gitlab\.io$/, 'Project page'],
  [/(?:^|\.)zenodo\.org$/, 'Zenodo'],
  [/(?:^|\.)kaggle\.com$/, 'Kaggle'],
  [/^colab\.research\.google\.com$/, 'Colab'],
  [/(?:^|\.)paperswithcode\.com$/, 'Papers with Code'],
  [/(?:^|\.)youtube\.com$|^youtu\.be$/, 'Video'],
  [/^sites\.google\.com$/, 'Project page'],
];

/** The display label for a code or project URL, from its host. */
export function linkLabel(url: string): string {
  const host = hostOf(url);
  if (host === undefined) return 'Link';
  for (const [re, label] of HOST_LABELS) if (re.test(host)) return label;
  return host.replace(/^www\./, '');
}

function hostOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    return u.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * A paper's links in display order: its page (arXiv abs, or the source's page), PDF, Hugging
 * Face page, then code and project links labelled by host ("GitHub", "Project page",
 * "etods.net"; a repeated label gets a number: "GitHub 2"). Only http(s) URLs, each once.
 */
export function paperLinks(paper: Pick<Paper, 'arxivId' | 'links' | 'abstract'>): PaperLink[] {
  const canonical = paper.arxivId ? arxivLinks(paper.arxivId) : undefined;
  const abs = paper.links.abs ?? canonical?.abs;
  const pdf = paper.links.pdf ?? canonical?.pdf;
  const out: PaperLink[] = [];
  const seen = new Set<string>();
  const add = (label: string, url: string | undefined): void => {
    if (url === undefined || hostOf(url) === undefined) return;
    const key = url.replace(/\/+$/, '');
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ label, url });
  };
  if (abs !== undefined) add(/(?:^|\.)arxiv\.org$/.test(hostOf(abs) ?? '') ? 'arXiv' : 'Page', abs);
  add('PDF', pdf);
  add('HF', paper.links.hf);
  const counts = new Map<string, number>();
  // The URL pattern stops at braces, so links inside \url{…} are found in the raw abstract.
  for (const url of [...paper.links.code, ...findCodeLinks(paper.abstract)]) {
    const label = linkLabel(url);
    const n = (counts.get(label) ?? 0) + 1;
    const before = out.length;
    add(n === 1 ? label : `${label} ${n}`, url);
    if (out.length > before) counts.set(label, n);
  }
  return out;
}
