import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import type { Paper } from '../../src/core/paper.js';
import {
  cleanLatex,
  linkLabel,
  paperLinks,
  splitSentences,
  summarize,
  TLDR_MAX,
  truncateAtWord,
} from '../../src/core/summary.js';

const SEEDS = join(import.meta.dirname, '../../seeds');
const seedAbstracts = readdirSync(SEEDS)
  .sort()
  .flatMap((f) => {
    const r = parseDigest(readFileSync(join(SEEDS, f), 'utf8'));
    if (!r.ok) throw new Error(`${f}: ${r.error}`);
    return r.papers.map((p) => p.abstract);
  });

describe('cleanLatex', () => {
  it.each([
    ['inline math', 'runs in $O(n^2)$ time', 'runs in O(n^2) time'],
    ['display math', 'the loss $$L = \\sum_i x_i$$ is convex', 'the loss L = Σ_i x_i is convex'],
    ['\\( \\) math', 'a rate of \\(\\alpha\\) per step', 'a rate of α per step'],
    [
      'bold and emphasis',
      '\\textbf{Bold} and \\emph{new} and \\textit{First survey}',
      'Bold and new and First survey',
    ],
    ['Greek letters', '\\alpha, \\beta and \\Omega', 'α, β and Ω'],
    ['math symbols', '$x \\leq 10^{-3} \\times y$', 'x ≤ 10^-3 × y'],
    ['escaped percent', 'gains of 96.4\\% and 11\\%', 'gains of 96.4% and 11%'],
    ['escaped dollar', 'a cost of \\$0.60 per run', 'a cost of $0.60 per run'],
    ['escaped ampersand and underscore', 'R\\&D on snake\\_case', 'R&D on snake_case'],
    ['non-breaking tilde', 'see Table~1 and Fig.~2', 'see Table 1 and Fig. 2'],
    ['citations', 'as shown before \\cite{smith2020,lee2021}. We go on', 'as shown before. We go on'],
    ['citet with a note', 'following \\citep[p.~3]{x} we', 'following we'],
    [
      'old-style font switch',
      'comes from {\\em parameter and retrieval} levels',
      'comes from parameter and retrieval levels',
    ],
    [
      '\\eg and \\ie',
      'sets of parameters (\\eg adapters), \\ie modules',
      'sets of parameters (e.g. adapters), i.e. modules',
    ],
    [
      'unknown macro keeps its name',
      'We introduce \\projectname, a framework',
      'We introduce projectname, a framework',
    ],
    ['\\url', 'at \\url{https://etods.net/.}, where', 'at https://etods.net/., where'],
    ['\\href', 'see \\href{https://x.org}{our site}.', 'see our site (https://x.org).'],
    ['fractions and roots', '$\\frac{1}{2}$ and $\\sqrt{d}$', '1/2 and √d'],
    ['blackboard bold', '$x \\in \\mathbb{R}^d$', 'x ∈ ℝ^d'],
    ['stray braces', 'a {Transformer} model', 'a Transformer model'],
    [
      'a URL with a tilde is left alone',
      'code at https://host.edu/~user/x_y.',
      'code at https://host.edu/~user/x_y.',
    ],
    ['whitespace', '  two\n\tlines  ', 'two lines'],
    ['an unmatched dollar stays', 'it costs $5 today', 'it costs $5 today'],
    ['en dash between numbers', 'pages 10--20', 'pages 10–20'],
  ])('makes %s readable', (_name, input, expected) => {
    expect(cleanLatex(input)).toBe(expected);
  });
});

describe('splitSentences', () => {
  it.each([
    ['e.g.', 'Models, e.g. Transformers, work. They scale.', 2],
    ['i.e.', 'One task, i.e. QA, is used. Then more.', 2],
    ['et al.', 'As Smith et al. Showed in 2020, it works. Next.', 2],
    ['vs.', 'We compare A vs. B here. Then C.', 2],
    ['Fig.', 'See Fig. 3 for details. Done.', 2],
    ['decimals', 'Accuracy rose by 3.5 points. Then 2.0 more.', 2],
    ['URLs', 'Code at https://github.com/a/b.c and more. Next sentence.', 2],
    ['a URL ending a sentence', 'Code is at https://github.com/a/b. We also release data.', 2],
    ['initials', 'Following J. Smith we do it. Next.', 2],
    ['question and exclamation marks', 'Does it work? Yes! It does.', 3],
    ['a lower-case continuation', 'It uses approx. three layers. Next.', 2],
    ['closing parentheses', 'It works (mostly.) Next one.', 2],
  ])('does not break on %s', (_name, text, count) => {
    expect(splitSentences(text)).toHaveLength(count);
  });

  it('keeps every character of the text', () => {
    const text = 'One. Two, e.g. three! Four? Five 3.5 https://a.b/c.d six.';
    expect(splitSentences(text).join(' ')).toBe(text);
  });
});

describe('summarize', () => {
  it.each([
    [
      'the "we propose" sentence',
      'Deep learning is popular. However, it is slow. We propose FastNet, a faster model. It wins.',
      'We propose FastNet, a faster model.',
    ],
    [
      '"we introduce" after an adverb',
      'Agents fail. To fix this, we further introduce a planner. Results improve.',
      'To fix this, we further introduce a planner.',
    ],
    [
      '"this paper proposes"',
      'Context is long. This paper proposes a cache. It helps.',
      'This paper proposes a cache.',
    ],
    [
      '"In this work, we" when nothing is proposed',
      'Transfer is hard. In this work, we study why. We find three causes.',
      'In this work, we study why.',
    ],
    [
      'a "we propose" sentence over an earlier "In this work, we"',
      'Transfer is hard. In this work, we alleviate this gap. We propose Bridge, an adapter.',
      'We propose Bridge, an adapter.',
    ],
    [
      '"we release" when nothing stronger is there',
      'Data is scarce. We release a corpus. It is big.',
      'We release a corpus.',
    ],
    [
      'the first sentence otherwise',
      'Language models are large. They are costly.',
      'Language models are large.',
    ],
    ['a one-sentence abstract', 'A short note without a final period', 'A short note without a final period'],
    [
      'the cleaned sentence',
      'Costs grow as $O(n^2)$. We present \\textbf{Lin}, an $O(n)$ method with 96.4\\% accuracy.',
      'We present Lin, an O(n) method with 96.4% accuracy.',
    ],
    ['nothing for an empty abstract', '   ', ''],
  ])('picks %s', (_name, abstract, expected) => {
    expect(summarize(abstract)).toBe(expected);
  });

  it('cuts a long sentence at a word boundary and ends it with an ellipsis within 280', () => {
    const sentence = `We propose ${'remarkably '.repeat(40)}good models.`;
    const tldr = summarize(`Intro here. ${sentence}`);
    expect(tldr.length).toBeLessThanOrEqual(TLDR_MAX);
    expect(tldr.length).toBeGreaterThan(TLDR_MAX - 15);
    expect(tldr).toMatch(/^We propose (remarkably )+remarkably…$/);
  });

  it('honours a smaller budget', () => {
    expect(summarize('We propose a very long and detailed method for many things.', { maxLength: 30 })).toBe(
      'We propose a very long and…',
    );
  });
});

describe('truncateAtWord', () => {
  it.each([
    ['fits', 'short text', 20, 'short text'],
    ['exactly fits', 'abcde fghij', 11, 'abcde fghij'],
    ['one over', 'abcde fghij', 10, 'abcde…'],
    ['drops trailing punctuation', 'alpha, beta gamma', 10, 'alpha…'],
    ['a single long word is cut between code points', 'abcdefghij', 5, 'abcd…'],
    ['never splits an emoji', '😀😀😀😀', 6, '😀😀…'],
    ['tiny budget', 'abc def', 1, '…'],
  ])('%s', (_name, text, max, expected) => {
    const out = truncateAtWord(text, max);
    expect(out).toBe(expected);
    expect(out.length).toBeLessThanOrEqual(max);
  });
});

describe('summarize over every abstract in the seeds', () => {
  const tldrs = seedAbstracts.map((a) => ({ abstract: a, tldr: summarize(a) }));
  const STRONG =
    /\bwe\s+(?:\w+\s+)?(?:propose|introduce|present)s?\b|\b(?:this|our)\s+(?:paper|work|study|article)\s+(?:proposes|introduces|presents|develops|describes)\b/i;

  it('reads 668 abstracts', () => {
    expect(tldrs).toHaveLength(668);
  });

  it('gives a non-empty TL;DR of at most 280 characters for each', () => {
    for (const { tldr } of tldrs) {
      expect(tldr.length).toBeGreaterThan(0);
      expect(tldr.length).toBeLessThanOrEqual(TLDR_MAX);
    }
  });

  it('leaves no math dollar or backslash macro', () => {
    for (const { tldr } of tldrs) {
      expect(tldr).not.toMatch(/\\/);
      // A dollar before a digit is a price ("\$0.60" in one abstract), not math.
      expect(tldr).not.toMatch(/\$(?!\d)/);
      expect(tldr).not.toMatch(/[{}]/);
    }
  });

  it('never ends mid-word: a whole sentence, or whole words and an ellipsis', () => {
    let cut = 0;
    for (const { abstract, tldr } of tldrs) {
      const sentences = splitSentences(cleanLatex(abstract));
      if (sentences.includes(tldr)) continue;
      cut++;
      expect(tldr.endsWith('…')).toBe(true);
      const head = tldr.slice(0, -1);
      const source = sentences.find((s) => s.startsWith(head));
      expect(source).toBeDefined();
      const next = source?.slice(head.length) ?? '';
      expect(/[\p{L}\p{N}]$/u.test(head) && /^[\p{L}\p{N}]/u.test(next)).toBe(false);
    }
    // The seeds do hold sentences longer than 280 characters, so the cut path is exercised.
    expect(cut).toBeGreaterThan(0);
  });

  it('picks the "we propose / introduce / present" sentence when the abstract has one', () => {
    let checked = 0;
    for (const { abstract, tldr } of tldrs) {
      const sentences = splitSentences(cleanLatex(abstract));
      const first = sentences.findIndex((s) => STRONG.test(s));
      if (first < 0) continue;
      checked++;
      const head = tldr.replace(/…$/, '');
      const picked = sentences.findIndex((s) => s.startsWith(head));
      expect(picked).toBe(first);
    }
    expect(checked).toBeGreaterThan(400);
  });
});

describe('paperLinks', () => {
  const paper = (over: Partial<Paper>): Pick<Paper, 'arxivId' | 'links' | 'abstract'> => ({
    abstract: '',
    links: { code: [] },
    ...over,
  });

  it('lists arXiv, PDF, HF, then code links labelled by host', () => {
    const links = paperLinks(
      paper({
        arxivId: '2411.17700',
        links: {
          hf: 'https://huggingface.co/papers/2411.17700',
          code: ['https://github.com/a/b', 'https://proj.github.io/x/', 'https://etods.net/'],
        },
        abstract: 'Code: https://github.com/a/b and https://github.com/c/d.',
      }),
    );
    expect(links).toEqual([
      { label: 'arXiv', url: 'https://arxiv.org/abs/2411.17700' },
      { label: 'PDF', url: 'https://arxiv.org/pdf/2411.17700' },
      { label: 'HF', url: 'https://huggingface.co/papers/2411.17700' },
      { label: 'GitHub', url: 'https://github.com/a/b' },
      { label: 'Project page', url: 'https://proj.github.io/x/' },
      { label: 'etods.net', url: 'https://etods.net/' },
      { label: 'GitHub 2', url: 'https://github.com/c/d' },
    ]);
  });

  it('finds a \\url{} link in the abstract', () => {
    const links = paperLinks(paper({ abstract: 'Resources at \\url{https://gitlab.com/x/y}.' }));
    expect(links).toEqual([{ label: 'GitLab', url: 'https://gitlab.com/x/y' }]);
  });

  it('labels a non-arXiv page "Page" and skips non-http links', () => {
    const links = paperLinks(
      paper({ links: { abs: 'https://journal.org/a/1', code: ['javascript:alert(1)', 'ftp://x.org/f'] } }),
    );
    expect(links).toEqual([{ label: 'Page', url: 'https://journal.org/a/1' }]);
  });

  it.each([
    ['https://www.github.com/a/b', 'GitHub'],
    ['https://huggingface.co/datasets/x', 'Hugging Face'],
    ['https://colab.research.google.com/drive/1', 'Colab'],
    ['https://www.example.org/p', 'example.org'],
    ['not a url', 'Link'],
  ])('labels %s as %s', (url, label) => {
    expect(linkLabel(url)).toBe(label);
  });
});
