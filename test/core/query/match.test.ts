import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderText } from '../../../src/core/message.js';
import type { Paper } from '../../../src/core/paper.js';
import {
  type AnalyzedPaper,
  analyzePaper,
  type CorpusStats,
  compileMatcher,
  createSearchIndex,
  explainMatch,
  formatExplanation,
  formatQuery,
  type MatchablePaper,
  matchesQuery,
  PaperWords,
  parseQuery,
  type Query,
  scoreMatch,
  stem,
  tokenize,
  WordPool,
} from '../../../src/core/query/index.js';
import { AUTHOR_GAP } from '../../../src/core/query/match.js';
import { ingest } from '../../../src/pipeline/ingest.js';
import { openStore } from '../../../src/store/keyv-store.js';
import type { Store } from '../../../src/store/types.js';

function q(text: string): Query {
  const r = parseQuery(text);
  if (!r.ok) throw new Error(`${text}: ${r.error.message}`);
  return r.query;
}

function paper(p: Partial<Paper> & { title: string }): Paper {
  return {
    id: `fp:${p.title}`,
    abstract: '',
    authors: [],
    categories: [],
    links: { code: [] },
    sources: ['test'],
    firstSeen: '2026-11-22T00:00:00.000Z',
    ...p,
  };
}

const matches = (query: string, p: Paper) => matchesQuery(q(query), analyzePaper(p));

describe('text analysis', () => {
  it.each([
    ['policies', 'policy'],
    ['agents', 'agent'],
    ['classes', 'classe'],
    ['glasses', 'glasse'],
    ['bus', 'bus'],
    ['class', 'class'],
    ['series', 'sery'],
    ['toes', 'toe'],
    ['aies', 'aie'],
    ['s', 's'],
    ['es', 'es'],
    ['ies', 'ies'],
    ['data', 'data'],
  ])('stems %s to %s (Harman S)', (word, expected) => {
    expect(stem(word)).toBe(expected);
  });

  it('splits on everything but letters and digits, NFKC and case-folded', () => {
    expect(tokenize('Ｇｐｔ-４o, AND Café!').map((t) => t.raw)).toEqual([
      'gpt',
      '4o',
      'gpt4o',
      'and',
      'café',
    ]);
  });

  it('gives compound parts and the joined form, for ASCII hyphen, U+2010 and U+2011', () => {
    for (const h of ['-', '\u2010', '\u2011']) {
      expect(tokenize(`Multi${h}Task`).map((t) => t.stem)).toEqual(['multi', 'task', 'multitask']);
    }
    expect(tokenize('multi – task').map((t) => t.stem)).toEqual(['multi', 'task']);
  });
});

describe('query semantics', () => {
  const p = paper({
    title: 'Multi-Task Learning with Mixture-of-Experts Policies',
    abstract: 'We propose agents that learn robotic skills. Code: https://github.com/a/b',
    authors: ['Ada Lovelace', 'Alan Turing'],
    categories: ['cs.LG', 'cs.RO'],
    sources: ['arxiv-cs-lg'],
  });

  it.each([
    ['multi-task', true],
    ['multitask', true],
    ['"multi task"', true],
    ['Multi-Task', true],
    ['"mixture of experts"', true],
    ['mixture-of-experts', true],
    ['policy', true],
    ['agent', true],
    ['robot*', true],
    ['robots', false],
    ['title:agents', false],
    ['abstract:agents', true],
    ['author:turing', true],
    ['author:"lovelace alan"', false],
    ['author:"ada lovelace"', true],
    ['category:cs.RO', true],
    ['category:cs.*', true],
    ['category:cs', false],
    ['source:arxiv-cs-lg', true],
    ['source:arxiv*', true],
    ['/github\\.com\\/a/', true],
    ['/MULTI-TASK/', false],
    ['/MULTI-TASK/i', true],
    ['-survey', true],
    ['NOT policy', false],
    ['agents survey', false],
    ['agents AND survey', false],
    ['agents OR survey', true],
    ['agents | survey', true],
    ['survey OR agents -robotic', false],
    ['(survey OR agents) -robotic', false],
    ['survey OR (agents -robotic)', false],
    ['survey OR agents -dogs', true],
    ['NOT survey agents', true],
    ['title:(multitask policy)', true],
    ['title:(multitask agent)', false],
  ])('%s → %s', (query, expected) => {
    expect(matches(query, p)).toBe(expected);
  });

  it('binds NOT tighter than AND, and AND tighter than OR', () => {
    expect(formatQuery(q('a b OR c -d'))).toBe('a b OR c NOT d');
    expect(q('a b OR c').type).toBe('or');
    const and = q('NOT a b');
    expect(and.type).toBe('and');
  });

  it('runs a catastrophic-backtracking regex in linear time', () => {
    const long = paper({ title: 't', abstract: `${'a'.repeat(50_000)}!` });
    // (a+)+$ takes exponential time in a backtracking engine on this input.
    expect(matchesQuery(q('/(a+)+$/'), analyzePaper(long))).toBe(false);
  });

  it('explains which terms matched where, with a snippet', () => {
    const e = explainMatch(q('multi-task author:turing -survey'), analyzePaper(p));
    expect(e.matched).toBe(true);
    expect(e.terms.find((t) => t.term === 'multi-task')).toMatchObject({ matched: true, field: 'title' });
    expect(e.terms.find((t) => t.term === 'turing')).toMatchObject({
      matched: true,
      field: 'author',
      snippet: 'Ada Lovelace, Alan Turing',
    });
    expect(e.terms.find((t) => t.term === 'survey')).toMatchObject({ matched: false, negated: true });
    expect(formatExplanation(e)).toContain('✓ multi-task in title: "Multi-Task Learning');
    const no = explainMatch(q('agents survey'), analyzePaper(p));
    expect(no.matched).toBe(false);
    expect(formatExplanation(no)).toContain('✗ not found: survey');
  });
});

// ---- the compiled matcher answers exactly like the interpreter --------------------------------

const VOCAB = [
  'model',
  'models',
  'multi-task',
  'multitask',
  'task',
  'policy',
  'policies',
  'agent',
  'agents',
  'robot',
  'robotic',
  'café',
  'Ｍｏｅ',
  'moe',
  'expert',
  'experts',
  'survey',
  'learning',
];
const word = fc.constantFrom(
  ...VOCAB.map((w) => w.replace('Ｍｏｅ', 'moe')),
  'mixture-of-experts',
  'gpt-4o',
  'x-ies',
);
const field = fc.constantFrom('', 'title:', 'abstract:', 'author:');
const leaf: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(field, word).map(([f, w]) => `${f}${w}`),
  fc.tuple(field, word, word).map(([f, a, b]) => `${f}"${a} ${b}"`),
  fc.tuple(field, word, word, word).map(([f, a, b, c]) => `${f}"${a} ${b} ${c}"`),
  fc
    .tuple(
      field,
      fc.constantFrom(
        'mo',
        'rob',
        'pol',
        'ta',
        'ex',
        'su',
        'multit',
        'mixtureo',
        'gpt4',
        'polic',
        'caf',
        'xi',
      ),
    )
    .map(([f, p]) => `${f}${p}*`),
  fc.constantFrom('category:cs.lg', 'category:cs.*', 'source:feed', '/ro+b/i', '/task$/', '/Lea/'),
);
const queryText: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(tie('node'), tie('node')).map(([a, b]) => `(${a} ${b})`),
    fc.tuple(tie('node'), tie('node')).map(([a, b]) => `(${a} OR ${b})`),
    tie('node').map((a) => `-(${a})`),
  ),
})).node;
// Compounds of every shape (three parts, a short last part, digits, case, a hyphen with nothing
// after it), separators, and sometimes non-ASCII text, which takes the tokenize path.
const textWord = fc.constantFrom(
  ...VOCAB,
  'of',
  'the',
  'Multi‐Task',
  'MoE',
  'robots',
  'Mixture-of-Experts',
  'multi-task-learning',
  'POLICIES-agents',
  'x-ies',
  'aies',
  'GPT-4o',
  'task-',
  '--',
  'a-b',
  'Learning,',
  'café-task',
);
const text = fc.array(textWord, { maxLength: 12 }).map((ws) => ws.join(' '));
const paperArb = fc.record({
  title: text,
  abstract: text,
  authors: fc.array(text, { maxLength: 3 }),
  categories: fc.subarray(['cs.LG', 'cs.CL', 'stat.ML']),
  sources: fc.subarray(['feed', 'seeds']),
});

/** What the matcher must return: the interpreter's matches, scored and ordered as documented. */
function interpreted(
  subs: ReadonlyArray<{ id: string; query: Query }>,
  doc: AnalyzedPaper,
  stats?: CorpusStats,
) {
  return subs
    .filter((s) => matchesQuery(s.query, doc))
    .map((s) => ({ subscriptionId: s.id, ...scoreMatch(s.query, doc, stats) }))
    .sort((a, b) => b.score - a.score || a.subscriptionId.localeCompare(b.subscriptionId));
}

describe('compiled matcher', () => {
  it('gives the same answers, scores and highlighted words as the interpreter for random queries and papers, from their text or from the words an index read', () => {
    fc.assert(
      fc.property(
        fc.array(queryText, { minLength: 1, maxLength: 12 }),
        fc.array(paperArb, { minLength: 1, maxLength: 8 }),
        (texts, papers) => {
          const subs = texts.map((t, i) => ({ id: `s${i}`, query: q(t) }));
          const matcher = compileMatcher(subs);
          // Two search indexes taking turns: a word's id in one is another word's in the other,
          // so what the matcher learnt of one's words must not be used for the other's.
          const indexes = [createSearchIndex(), createSearchIndex()];
          const pool = new WordPool();
          for (const [i, raw] of papers.entries()) {
            const p = { id: `p${i}`, ...raw };
            const doc = analyzePaper(p);
            const expected = interpreted(subs, doc);
            expect(matcher.match(doc)).toEqual(expected);
            // The same through the reused objects, paper after paper (read before the next call).
            const { hits, n, positions } = matcher.matchReused(doc);
            expect(hits.slice(0, n)).toEqual(expected);
            // Each hit's position names its subscription, the interpreter's fallback's too.
            expect(Array.from(positions.subarray(0, n), (k) => matcher.ids[k])).toEqual(
              expected.map((h) => h.subscriptionId),
            );
            // The same from the words an index read in the paper, as the search thread matches.
            const words = new PaperWords(pool);
            indexes[i % 2]?.add(p, words);
            const fromWords = matcher.matchReused(doc, words);
            expect(fromWords.hits.slice(0, fromWords.n)).toEqual(expected);
          }
        },
      ),
      { numRuns: 500, seed: 20261122 },
    );
  });

  it('names the subscription of each hit by its position, also where the interpreter answers', () => {
    const subs = [
      { id: 's-b', query: q('author:smith') },
      { id: 's-a', query: q('agents') },
      { id: 's-c', query: q('robots') },
    ];
    const matcher = compileMatcher(subs);
    // An author name of AUTHOR_GAP words or more is outside the program: the interpreter matches.
    const long = ['Smith', ...Array.from({ length: AUTHOR_GAP }, (_, i) => `w${i}`)].join(' ');
    for (const authors of [['Jane Smith'], [long]]) {
      const doc = analyzePaper(paper({ title: 'Agents', abstract: 'for robots', authors }));
      const { hits, n, positions } = matcher.matchReused(doc);
      expect(n).toBe(3);
      for (let k = 0; k < n; k++) {
        expect(matcher.ids[positions[k] as number]).toBe(hits[k]?.subscriptionId);
        expect(subs[positions[k] as number]?.id).toBe(hits[k]?.subscriptionId);
      }
    }
  });

  it('gives the same answers after choosing its keys again from the papers it has seen', () => {
    fc.assert(
      fc.property(
        fc.array(queryText, { minLength: 1, maxLength: 12 }),
        fc.array(paperArb, { minLength: 2, maxLength: 8 }),
        (texts, papers) => {
          const subs = texts.map((t, i) => ({ id: `s${i}`, query: q(t) }));
          const matcher = compileMatcher(subs, { retuneAfter: 1 });
          for (const [i, raw] of papers.entries()) {
            const doc = analyzePaper({ id: `p${i}`, ...raw });
            expect(matcher.match(doc)).toEqual(interpreted(subs, doc));
          }
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });

  it('scores with corpus statistics exactly as scoreMatch does', () => {
    const stats: CorpusStats = {
      papers: 1000,
      df: (s) => (s.length * 37) % 200,
      avgTitle: 9,
      avgAbstract: 150,
    };
    fc.assert(
      fc.property(fc.array(queryText, { minLength: 1, maxLength: 6 }), paperArb, (texts, raw) => {
        const subs = texts.map((t, i) => ({ id: `s${i}`, query: q(t) }));
        const doc = analyzePaper({ id: 'p', ...raw });
        expect(compileMatcher(subs, { stats }).match(doc)).toEqual(interpreted(subs, doc, stats));
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it('indexes ASCII text word for word as tokenize analyses it (compounds, digits, stray hyphens)', () => {
    const text = fc
      .array(
        fc.constantFrom('multi', '-', 'Task', ' ', 'x2', '--', 'policies', '.', 'A-B-c', 'es', 'ies', '9'),
        {
          maxLength: 30,
        },
      )
      .map((xs) => xs.join(''));
    fc.assert(
      fc.property(text, text, (title, abstract) => {
        const index = createSearchIndex();
        index.add(paper({ id: 'p', title, abstract }));
        expect(index.avgTitle).toBe(tokenize(title).length);
        expect(index.avgAbstract).toBe(tokenize(abstract).length);
        for (const t of [...tokenize(title), ...tokenize(abstract)]) expect(index.df(t.stem), t.raw).toBe(1);
        // Every word as written is in the vocabulary prefixes scan.
        for (const t of tokenize(abstract).filter((x) => x.raw.length >= 2))
          expect(index.search(q(`${t.raw}*`), { limit: 5 }), t.raw).toHaveLength(1);
      }),
      { numRuns: 500, seed: 9 },
    );
  });

  it('indexes every field as tokenize analyses it, ASCII or not, in papers that share words written alike', () => {
    const piece = fc.constantFrom(
      'Multi',
      'multi',
      '-',
      'Task',
      'task',
      ' ',
      '--',
      'x2',
      'A-B-c',
      'ies',
      'é',
      'Ü',
      '\ud800',
      '😀',
      '\u2010',
      '      ',
      '. ',
    );
    const field = fc.array(piece, { maxLength: 20 }).map((xs) => xs.join(''));
    const raws = fc.array(
      fc.record({ title: field, abstract: field, authors: fc.array(field, { maxLength: 3 }) }),
      {
        minLength: 1,
        maxLength: 6,
      },
    );
    fc.assert(
      fc.property(raws, (raws) => {
        const index = createSearchIndex();
        const papers = raws.map((r, i) => paper({ id: `p${i}`, ...r }));
        for (const p of papers) index.add(p);
        const tokens = (t: string) => tokenize(t).length;
        const sum = (f: (p: Paper) => number) => papers.reduce((n, p) => n + f(p), 0) / papers.length;
        expect(index.avgTitle).toBe(sum((p) => tokens(p.title)));
        expect(index.avgAbstract).toBe(sum((p) => tokens(p.abstract)));
        const stems = (p: Paper) =>
          new Set([...tokenize(p.title), ...tokenize(p.abstract)].map((t) => t.stem));
        for (const s of new Set(papers.flatMap((p) => [...stems(p)])))
          expect(index.df(s), s).toBe(papers.filter((p) => stems(p).has(s)).length);
        const authorStems = (p: Paper) => new Set(p.authors.flatMap((a) => tokenize(a).map((t) => t.stem)));
        for (const s of new Set(papers.flatMap((p) => [...authorStems(p)])))
          expect(
            index
              .search({ type: 'term', field: 'author', word: s, text: s }, { limit: 10 })
              .map((h) => h.paperId)
              .sort(),
            s,
          ).toEqual(papers.filter((p) => authorStems(p).has(s)).map((p) => p.id));
      }),
      { numRuns: 500, seed: 13 },
    );
  });

  it('search verifies candidates on their exact text, across many megabytes of papers', () => {
    const index = createSearchIndex();
    const filler = 'lorem ipsum dolor '.repeat(120);
    // ~12 MB of text: the index's text store spans several chunks.
    for (let i = 0; i < 5000; i++)
      index.add(
        paper({
          id: `p${i}`,
          title: `Paper ${i}`,
          abstract: `${filler} marker${i % 1000 === 999 ? 'x' : ''}`,
        }),
      );
    index.add(
      paper({ id: 'odd', title: 'Café ℵ 😀 lone \ud800 surrogate', abstract: 'Ünïcödé', authors: ['Zoë'] }),
    );
    expect(
      index
        .search(q('/markerx/'), { limit: 100 })
        .map((h) => h.paperId)
        .sort(),
    ).toEqual(['p1999', 'p2999', 'p3999', 'p4999', 'p999']);
    expect(index.search(q('/😀 lone \ud800/'), { limit: 10 }).map((h) => h.paperId)).toEqual(['odd']);
    expect(index.search(q('"café ℵ" author:zoë'), { limit: 10 }).map((h) => h.paperId)).toEqual(['odd']);
  });

  it('search finds exactly the papers the interpreter matches, also after papers are re-added', () => {
    fc.assert(
      fc.property(
        fc.array(queryText, { minLength: 1, maxLength: 4 }),
        fc.array(paperArb, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (texts, raws, changed) => {
          const corpus = raws.map((raw, i) => ({ id: `p${i}`, ...raw }));
          const index = createSearchIndex();
          for (const p of corpus) index.add(p);
          // A changed paper is indexed again under the same id: only its new text counts.
          const j = changed % corpus.length;
          const old = corpus[j] as (typeof corpus)[number];
          const replacement = { ...(corpus[(j + 1) % corpus.length] as (typeof corpus)[number]), id: old.id };
          corpus[j] = replacement;
          index.add(replacement);
          for (const t of texts) expectSearchAsInterpreter(index, corpus, t);
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('keeps each paper its own categories and sources when papers share them, across removals and re-adds', () => {
    const index = createSearchIndex();
    index.add(paper({ id: 'a', title: 'alpha', categories: ['cs.LG'], sources: ['arxiv'] }));
    index.add(paper({ id: 'b', title: 'beta', categories: ['cs.LG'], sources: ['arxiv'] }));
    // A separator inside a code must not make one list two, or two lists one.
    index.add(paper({ id: 'c', title: 'gamma', categories: ['cs.LG,cs.AI'], sources: ['a\u0000b'] }));
    index.add(paper({ id: 'd', title: 'delta', categories: ['cs.LG', 'cs.AI'], sources: ['a', 'b'] }));
    index.remove('a');
    index.add(paper({ id: 'a', title: 'alpha', categories: ['math.ST'], sources: ['hf'] }));
    index.remove('b');
    const ids = (text: string) =>
      index
        .search(q(text), { limit: 10 })
        .map((h) => h.paperId)
        .sort();
    expect(ids('category:cs.LG')).toEqual(['d']);
    expect(ids('category:cs.AI')).toEqual(['d']);
    expect(ids('source:a')).toEqual(['d']);
    expect(ids('category:math.ST source:hf')).toEqual(['a']);
    // Verified candidates (a code prefix, a regex) read the lists back from the index.
    expect(ids('category:math.* alpha')).toEqual(['a']);
    expect(ids('category:cs.* /a/')).toEqual(['c', 'd']);
    expect(ids('-category:cs.AI /a/')).toEqual(['a', 'c']);
    expect(ids('source:b /a/')).toEqual(['d']);
    expect(index.size).toBe(3);
  });

  it('finds every paper by id through thousands of additions, removals and re-additions', () => {
    const index = createSearchIndex();
    const title = new Map<string, string>();
    const put = (id: string, t: string) => {
      index.add(paper({ id, title: t }));
      title.set(id, t);
    };
    for (let i = 0; i < 6000; i++) put(`arxiv:2401.${String(i).padStart(5, '0')}`, `w${i}`);
    for (let i = 0; i < 6000; i += 3) {
      index.remove(`arxiv:2401.${String(i).padStart(5, '0')}`);
      title.delete(`arxiv:2401.${String(i).padStart(5, '0')}`);
    }
    index.remove('arxiv:never');
    for (let i = 0; i < 6000; i += 6) put(`arxiv:2401.${String(i).padStart(5, '0')}`, `v${i}`);
    for (let i = 1; i < 6000; i += 5) put(`arxiv:2401.${String(i).padStart(5, '0')}`, `u${i}`);
    expect(index.size).toBe(title.size);
    for (const [id, t] of title) expect(index.search(q(t), { limit: 5 }).map((h) => h.paperId)).toEqual([id]);
    for (let i = 3; i < 6000; i += 6) expect(index.search(q(`w${i}`), { limit: 5 })).toEqual([]);
  });

  it('numbers papers as they are added, and searches only the numbers `accept` takes', () => {
    const index = createSearchIndex();
    const texts = ['agents plan', 'agents act', 'agents plan and act', 'robots act'];
    expect(texts.map((t, i) => index.add(paper({ id: `p${i}`, title: t })))).toEqual([0, 1, 2, 3]);
    // Indexed again: a new number, the old one gone.
    expect(index.add(paper({ id: 'p0', title: 'agents plan again' }))).toBe(4);
    const even = (n: number) => n % 2 === 0;
    for (const text of ['agents', 'agents -act', '/act/', 'agent*', 'plan OR robots']) {
      const all = index.search(q(text), { limit: 10 });
      const evenIds = new Set(['p0', 'p2']); // numbers 4 and 2
      expect(index.search(q(text), { limit: 10, accept: even }), text).toEqual(
        all.filter((h) => evenIds.has(h.paperId)),
      );
    }
  });

  it('answers like the interpreter when an author name is long enough to reach the next name', () => {
    const long = Array.from({ length: 1000 }, (_, i) => (i === 999 ? 'ada' : `w${i}`)).join(' ');
    const doc = analyzePaper({ ...paper({ title: 't' }), authors: [long, 'lovelace'] });
    const subs = [
      { id: 'a', query: q('author:"ada lovelace"') },
      { id: 'b', query: q('author:lovelace') },
    ];
    expect(compileMatcher(subs).match(doc)).toEqual(interpreted(subs, doc));
  });

  it('keeps scanning papers after non-ASCII text and compounds in any field', () => {
    const subs = [
      { id: 'a', query: q('"mixture of experts" café') },
      { id: 'b', query: q('multit* author:"anne marie"') },
      { id: 'c', query: q('title:Ｍｏｅ') },
    ];
    const m = compileMatcher(subs);
    for (const p of [
      paper({ title: 'MoE', abstract: 'Mixture-of-Experts au café', authors: ['Anne-Marie Dupont'] }),
      paper({ title: 'Ｍｏｅ models', abstract: 'multi-task', authors: ['Anne Marie'] }),
      paper({ title: 'plain', abstract: 'mixture of experts cafe' }),
    ]) {
      const doc = analyzePaper(p);
      expect(m.match(doc)).toEqual(interpreted(subs, doc));
    }
  });

  it('round-trips every random query through its canonical text', () => {
    fc.assert(
      fc.property(queryText, (t) => {
        const once = formatQuery(q(t));
        expect(formatQuery(q(once))).toBe(once);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('ranks a title match above an abstract match', () => {
    const inTitle = analyzePaper(paper({ title: 'Agents everywhere', abstract: 'nothing here' }));
    const inAbstract = analyzePaper(paper({ title: 'Nothing here', abstract: 'agents everywhere' }));
    const m = compileMatcher([{ id: 's', query: q('agents') }]);
    expect((m.match(inTitle)[0]?.score ?? 0) > (m.match(inAbstract)[0]?.score ?? 0)).toBe(true);
    expect(m.match(inTitle)[0]?.terms).toEqual(['agents']);
  });

  it('highlights a matched phrase as the phrase, not its words wherever they stand alone', () => {
    const doc = analyzePaper(
      paper({
        title: 'Multi-Task Learning at scale',
        abstract: 'Each task gets its own head; the mixture of experts routes every task.',
      }),
    );
    const subs = [
      { id: 'compound', query: q('multi-task') },
      { id: 'phrase', query: q('"mixture of experts"') },
    ];
    const hits = compileMatcher(subs).match(doc);
    expect(hits).toEqual(interpreted(subs, doc));
    const terms = (id: string) => hits.find((h) => h.subscriptionId === id)?.terms;
    // The joined form is the compound's own word too (`multitask` in "Multi-Task").
    expect(terms('compound')).toEqual(['multi task', 'multitask']);
    expect(terms('phrase')).toEqual(['mixture of expert']);
    // What a post shows: the compound and the phrase in bold, the lone "task" not.
    expect(renderText(doc.abstract.text, [...(terms('compound') ?? []), ...(terms('phrase') ?? [])])).toBe(
      'Each task gets its own head; the **mixture of experts** routes every task.',
    );
    expect(renderText('Multi-Task Learning at scale', terms('compound') ?? [])).toBe(
      '**Multi-Task** Learning at scale',
    );
  });
});

// ---- the seeds ---------------------------------------------------------------------------------

describe('on the seeds', () => {
  let store: Store;
  const papers: Paper[] = [];
  beforeAll(async () => {
    store = await openStore('sqlite://:memory:');
    await ingest([{ name: 'seeds', type: 'digest', path: join(import.meta.dirname, '../../../seeds') }], {
      store,
      failingAfter: 3,
      failingBackoffMinutes: 30,
      failingBackoffMaxMinutes: 60,
      concurrency: 1,
    });
    for await (const p of store.papers.iterate()) papers.push(p);
  });
  afterAll(() => store.close());

  it.each([
    ['multi-task', 143],
    ['"mixture of experts"', 14],
    ['multitask', 143],
  ])('%s matches %i distinct papers, in the index and by the interpreter', (query, count) => {
    expect(papers).toHaveLength(544);
    const index = createSearchIndex();
    for (const p of papers) index.add(p);
    expect(index.search(q(query), { limit: 10_000 })).toHaveLength(count);
    expect(papers.filter((p) => matchesQuery(q(query), analyzePaper(p)))).toHaveLength(count);
  });

  it('search ranks verified candidates with the interpreter scores and highlighted words', () => {
    const index = createSearchIndex();
    for (const p of papers) index.add(p);
    for (const text of [
      'robot* -survey',
      'title:diffusion',
      '/diffusion/i',
      '"language model" OR agents',
      'multi-task',
      'category:cs.* agents',
      'author:"wang" -learning',
    ]) {
      const expected = papers
        .map((p) => ({ p, doc: analyzePaper(p) }))
        .filter(({ doc }) => matchesQuery(q(text), doc))
        .map(({ p, doc }) => ({ paperId: p.id, ...scoreMatch(q(text), doc, index) }))
        .sort((a, b) => b.score - a.score || a.paperId.localeCompare(b.paperId));
      expect(index.search(q(text), { limit: 10_000 }), text).toEqual(expected);
    }
  });

  it('search gives the interpreter answer for every kind of term', () => {
    const index = createSearchIndex();
    for (const p of papers) index.add(p);
    for (const text of [
      'robot* -survey',
      'title:diffusion',
      '/diffusion/i',
      'author:wang',
      '"language model" OR agents',
      '-learning',
      'category:cs.*',
    ])
      expectSearchAsInterpreter(index, papers, text);
  });
});

/** The papers search finds for `text` are exactly those the interpreter matches in `corpus`. */
function expectSearchAsInterpreter(
  index: ReturnType<typeof createSearchIndex>,
  corpus: ReadonlyArray<MatchablePaper>,
  text: string,
): void {
  const expected = corpus
    .filter((p) => matchesQuery(q(text), analyzePaper(p)))
    .map((p) => p.id)
    .sort();
  const got = index
    .search(q(text), { limit: 10_000 })
    .map((h) => h.paperId)
    .sort();
  expect(got, text).toEqual(expected);
}
