import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abstractHash,
  chooseTarget,
  createPaper,
  MAX_UPDATES,
  mergeSighting,
  newAliases,
} from '../../src/core/merge.js';
import { arxivKey, fingerprintKey, type Paper, type PaperSighting } from '../../src/core/paper.js';

const T0 = '2026-11-20T10:00:00.000Z';
const T1 = '2026-11-21T10:00:00.000Z';

function sighting(over: Partial<PaperSighting> = {}): PaperSighting {
  return {
    title: 'Learning to Branch for Multi-Task Learning',
    abstract: 'Training multiple tasks jointly in one deep network yields reduced latency.',
    authors: [],
    categories: [],
    links: { code: [] },
    ...over,
  };
}

describe('createPaper', () => {
  it('ids an arXiv paper by its versionless arXiv id and adds abs/pdf links', () => {
    const p = createPaper(sighting({ arxivId: '2006.01895', version: 2 }), 'arxiv-cs-lg', T0);
    expect(p.id).toBe('arxiv:2006.01895');
    expect(p.version).toBe(2);
    expect(p.links).toMatchObject({
      abs: 'https://arxiv.org/abs/2006.01895',
      pdf: 'https://arxiv.org/pdf/2006.01895',
    });
    expect(p.sources).toEqual(['arxiv-cs-lg']);
    expect(p.firstSeen).toBe(T0);
  });

  it('ids a paper without arXiv id by its title fingerprint', () => {
    const p = createPaper(sighting(), 'seeds', T0);
    expect(p.id).toBe(fingerprintKey('learning to branch for multi task learning'));
    expect(p.arxivId).toBeUndefined();
  });
});

describe('chooseTarget', () => {
  const digestPaper = createPaper(sighting(), 'seeds', T0);
  const arxivPaper = createPaper(sighting({ title: 'Same Title', arxivId: '2401.00001' }), 'arxiv', T0);
  const papers = new Map<string, Paper>([
    [digestPaper.id, digestPaper],
    [arxivPaper.id, arxivPaper],
  ]);
  const resolved = new Map([
    [fingerprintKey(digestPaper.title), digestPaper.id],
    [arxivKey('2401.00001'), arxivPaper.id],
    [fingerprintKey('Same Title'), arxivPaper.id],
  ]);

  it('finds a digest-only paper again when it arrives with an arXiv id and the same title', () => {
    expect(
      chooseTarget(
        sighting({ arxivId: '2006.01895', title: 'Learning to branch for multi-task learning!' }),
        resolved,
        papers,
      ),
    ).toBe(digestPaper.id);
  });

  it('prefers the arXiv id over the title', () => {
    expect(chooseTarget(sighting({ arxivId: '2401.00001', title: 'A Retitled v2' }), resolved, papers)).toBe(
      arxivPaper.id,
    );
  });

  it('treats a same-titled paper with another arXiv id as a different paper', () => {
    expect(
      chooseTarget(sighting({ arxivId: '2401.99999', title: 'Same Title' }), resolved, papers),
    ).toBeUndefined();
  });

  it('finds an arXiv paper from a digest that only has its title', () => {
    expect(chooseTarget(sighting({ title: 'SAME  title' }), resolved, papers)).toBe(arxivPaper.id);
  });
});

describe('a new paper’s abstract hash', () => {
  it('is made when a later sighting needs it, with the outcome a stored hash gives', () => {
    // Abstracts that fold alike or not: case, spacing, punctuation and other words.
    const text = fc.constantFrom('A b.', 'a  B', 'a b c', '', 'A, b!', 'Üb a', 'x');
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 5 }), (abstracts) => {
        const [first, ...later] = abstracts as [string, ...string[]];
        const created = createPaper(sighting({ abstract: first }), 'seeds', T0);
        expect(created.abstractHashes).toBeUndefined();
        // The same paper as it was stored before: its abstract's hash recorded at once.
        let lazy: Paper = created;
        let eager: Paper = first === '' ? created : { ...created, abstractHashes: [abstractHash(first)] };
        for (const abstract of later) {
          const a = mergeSighting(lazy, sighting({ abstract }), 'seeds', T1);
          const b = mergeSighting(eager, sighting({ abstract }), 'seeds', T1);
          expect(a.outcome).toBe(b.outcome);
          expect(a.paper.abstract).toBe(b.paper.abstract);
          expect(a.paper.abstractHashes ?? [abstractHash(a.paper.abstract)]).toEqual(
            b.paper.abstractHashes ?? [abstractHash(b.paper.abstract)],
          );
          lazy = a.paper;
          eager = b.paper;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('mergeSighting', () => {
  const base = createPaper(sighting({ arxivId: '2006.01895', version: 1 }), 'arxiv', T0);

  it('calls the same text again a duplicate and changes nothing but the sources', () => {
    const same = mergeSighting(base, sighting({ arxivId: '2006.01895', version: 1 }), 'arxiv', T1);
    expect(same).toMatchObject({ outcome: 'duplicate', changed: false });
    const elsewhere = mergeSighting(
      base,
      sighting({ abstract: `  ${base.abstract.toUpperCase()} ` }),
      'seeds',
      T1,
    );
    expect(elsewhere.outcome).toBe('duplicate');
    expect(elsewhere.paper.sources).toEqual(['arxiv', 'seeds']);
  });

  it('records a higher version as an update and keeps the newer text', () => {
    const r = mergeSighting(
      base,
      sighting({ arxivId: '2006.01895', version: 3, abstract: 'A new abstract for v3 of this paper.' }),
      'arxiv',
      T1,
    );
    expect(r.outcome).toBe('updated');
    expect(r.paper.version).toBe(3);
    expect(r.paper.abstract).toBe('A new abstract for v3 of this paper.');
    expect(r.paper.updates).toEqual([
      { at: T1, source: 'arxiv', kind: 'version+abstract', fromVersion: 1, toVersion: 3 },
    ]);
    expect(r.paper.updatedAt).toBe(T1);
  });

  it('ignores a lower version arriving late', () => {
    const v3 = mergeSighting(
      base,
      sighting({ arxivId: '2006.01895', version: 3, abstract: 'Version three text.' }),
      'arxiv',
      T1,
    ).paper;
    const late = mergeSighting(
      v3,
      sighting({ arxivId: '2006.01895', version: 2, abstract: 'Version two text.' }),
      'arxiv',
      T1,
    );
    expect(late.outcome).toBe('duplicate');
    expect(late.paper.abstract).toBe('Version three text.');
    expect(late.paper.version).toBe(3);
  });

  it('records a changed abstract once, and an old abstract seen again is not a change', () => {
    const digest = createPaper(sighting(), 'seeds', T0);
    const changed = mergeSighting(
      digest,
      sighting({ abstract: 'A revised abstract with new results.' }),
      'seeds',
      T1,
    );
    expect(changed.outcome).toBe('updated');
    const oldAgain = mergeSighting(changed.paper, sighting(), 'seeds', T1);
    expect(oldAgain.outcome).toBe('duplicate');
    expect(oldAgain.paper.abstract).toBe('A revised abstract with new results.');
  });

  it('fills in the arXiv id, links and authors a digest paper lacked, without calling it an update', () => {
    const digest = createPaper(sighting(), 'seeds', T0);
    const r = mergeSighting(
      digest,
      sighting({ arxivId: '2006.01895', version: 1, authors: ['Ada Lovelace'], categories: ['cs.LG'] }),
      'arxiv',
      T1,
    );
    expect(r).toMatchObject({ outcome: 'duplicate', changed: true });
    expect(r.paper.id).toBe(digest.id);
    expect(r.paper.arxivId).toBe('2006.01895');
    expect(r.paper.links.pdf).toBe('https://arxiv.org/pdf/2006.01895');
    expect(r.paper.authors).toEqual(['Ada Lovelace']);
    expect(r.paper.categories).toEqual(['cs.LG']);
  });

  it(`keeps at most ${MAX_UPDATES} updates`, () => {
    let p = base;
    for (let v = 2; v < MAX_UPDATES + 6; v++) {
      p = mergeSighting(p, sighting({ arxivId: '2006.01895', version: v }), 'arxiv', T1).paper;
    }
    expect(p.updates).toHaveLength(MAX_UPDATES);
    expect(p.updates?.at(-1)?.toVersion).toBe(MAX_UPDATES + 5);
  });
});

describe('newAliases', () => {
  it('adds the arXiv key a digest paper learnt, and never re-points a known key', () => {
    const digest = createPaper(sighting(), 'seeds', T0);
    const merged = mergeSighting(digest, sighting({ arxivId: '2006.01895' }), 'arxiv', T1).paper;
    const resolved = new Map([
      [fingerprintKey(digest.title), digest.id],
      [digest.id, digest.id],
    ]);
    expect(newAliases(merged, sighting({ arxivId: '2006.01895' }), resolved)).toEqual([
      ['arxiv:2006.01895', digest.id],
    ]);
  });
});
