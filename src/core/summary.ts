/**
 * The TL;DR: one sentence of the abstract, at most 280 characters — the sentence that states the
 * contribution when there is one, else the first — with LaTeX remnants made readable.
 */
import type { Paper } from './paper.js';

export const TLDR_MAX = 280;

const GREEK: Record<string, string> = {
  alpha: 'α',
  beta: 'β',
  gamma: 'γ',
  delta: 'δ',
  epsilon: 'ε',
  varepsilon: 'ε',
  zeta: 'ζ',
  eta: 'η',
  theta: 'θ',
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
  phi: 'φ',
  varphi: 'φ',
  chi: 'χ',
  psi: 'ψ',
  omega: 'ω',
  Gamma: 'Γ',
  Delta: 'Δ',
  Theta: 'Θ',
  Lambda: 'Λ',
  Pi: 'Π',
  Sigma: 'Σ',
  Phi: 'Φ',
  Psi: 'Ψ',
  Omega: 'Ω',
  times: '×',
  cdot: '·',
  leq: '≤',
  le: '≤',
  geq: '≥',
  ge: '≥',
  neq: '≠',
  approx: '≈',
  sim: '~',
  infty: '∞',
  rightarrow: '→',
  to: '→',
  leftarrow: '←',
  pm: '±',
  in: '∈',
  sum: 'Σ',
  prod: 'Π',
  partial: '∂',
  nabla: '∇',
  ell: 'ℓ',
  log: 'log',
  exp: 'exp',
  ldots: '…',
  dots: '…',
  cdots: '…',
};
/** Macros whose argument is the readable part. */
const KEEP_ARG =
  /\\(?:textbf|textit|emph|mathrm|mathbf|mathcal|mathbb|text|texttt|textsc|underline|operatorname|mathit|boldsymbol|bm)\s*\{([^{}]*)\}/g;
/** Macros whose argument is noise. */
const DROP_ARG = /\\(?:cite|citep|citet|ref|eqref|label|footnote|url)\s*\{[^{}]*\}/g;

/** LaTeX remnants made readable: `$O(n^2)$` → `O(n^2)`, `\textbf{x}` → `x`, `\alpha` → `α`. */
export function delatex(text: string): string {
  let s = text;
  for (let i = 0; i < 3; i++) s = s.replace(KEEP_ARG, '$1');
  s = s
    .replace(DROP_ARG, '')
    .replace(/\\([%&#_$])/g, '$1')
    .replace(/\\([A-Za-z]+)/g, (_m, name: string) => GREEK[name] ?? '')
    .replace(/\\[,;:!]/g, ' ')
    .replace(/\$\$?/g, '')
    .replace(/~/g, ' ')
    .replace(/[{}]/g, '')
    .replace(/\\/g, '');
  return s
    .replace(/\s+/g, ' ')
    .replace(/\s+([,.;:)])/g, '$1')
    .trim();
}

/** Abbreviations whose period does not end a sentence. */
const ABBREV =
  /(?:\b(?:e\.g|i\.e|et al|vs|cf|etc|fig|figs|eq|eqs|sec|no|approx|resp|al|dr|mr|ms|prof|st|inc|ltd|ca|viz)|\b[A-Z])\.$/i;

/** Splits text into sentences without breaking on abbreviations, decimals or URLs. */
export function sentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  const re = /[.!?](?=\s+(?:[A-Z0-9"'([]|$))|[.!?]$/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const end = m.index + 1;
    const candidate = text.slice(start, end);
    if (m[0] === '.' && ABBREV.test(candidate)) continue;
    out.push(candidate.trim());
    start = end;
  }
  const rest = text.slice(start).trim();
  if (rest) out.push(rest);
  return out.filter((s) => s.length > 0);
}

const CONTRIBUTION =
  /\b(?:we|this (?:paper|work|study|article)|our (?:work|paper|method|approach))\s+(?:\w+\s+){0,2}?(?:propose|introduce|present|develop|release|design|build|construct|contribute|show|demonstrate|put forward)s?\b/i;

/** Cuts at a word boundary so the result, with an ellipsis, fits `max`. */
export function clipWords(text: string, max: number): string {
  if (text.length <= max) return text;
  const room = text.slice(0, max - 1);
  const space = room.lastIndexOf(' ');
  const cut = space > max * 0.5 ? room.slice(0, space) : room;
  return `${cut.replace(/[\s,;:.(–-]+$/, '')}…`;
}

/** The TL;DR of an abstract (empty for an empty abstract). */
export function summarize(abstract: string): string {
  const clean = delatex(abstract);
  if (clean === '') return '';
  const all = sentences(clean);
  const pick = all.find((s) => CONTRIBUTION.test(s)) ?? all[0] ?? clean;
  return clipWords(pick, TLDR_MAX);
}

/** The links of a paper in reading order: abstract page, PDF, Hugging Face, code and project pages. */
export function paperLinks(p: Pick<Paper, 'links' | 'arxivId'>): Array<{ label: string; url: string }> {
  const out: Array<{ label: string; url: string }> = [];
  if (p.links.abs) out.push({ label: p.arxivId ? 'arXiv' : 'Page', url: p.links.abs });
  if (p.links.pdf) out.push({ label: 'PDF', url: p.links.pdf });
  if (p.links.hf) out.push({ label: 'HF', url: p.links.hf });
  for (const url of p.links.code) {
    let host = '';
    try {
      host = new URL(url).hostname.replace(/^www\./, '');
    } catch {
      continue;
    }
    const label = /github\.com$/.test(host)
      ? 'Code'
      : /gitlab\.com$|bitbucket\.org$|huggingface\.co$/.test(host)
        ? host.split('.')[0] === 'huggingface'
          ? 'HF repo'
          : 'Code'
        : 'Project';
    if (!out.some((l) => l.url === url)) out.push({ label, url });
  }
  return out;
}
