import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  detachText,
  findCodeLinks,
  fingerprintHash,
  hasFingerprint,
  hash64,
  normalizeSpace,
  parseArxivRef,
  titleFingerprint,
} from '../../src/core/paper.js';

describe('parseArxivRef', () => {
  it.each([
    // bare ids, new style
    ['2411.17700', '2411.17700', undefined],
    ['2411.17700v2', '2411.17700', 2],
    ['arXiv:2411.17700v12', '2411.17700', 12],
    ['arxiv:2411.17700', '2411.17700', undefined],
    ['  2411.17700v1\n', '2411.17700', 1],
    ['0704.0001', '0704.0001', undefined],
    ['1412.6980v9', '1412.6980', 9],
    // bare ids, old style
    ['astro-ph/9812133', 'astro-ph/9812133', undefined],
    ['astro-ph/9812133v2', 'astro-ph/9812133', 2],
    ['hep-th/9901001', 'hep-th/9901001', undefined],
    ['math.GT/0309136v1', 'math.GT/0309136', 1],
    ['Math.GT/0309136', 'math.GT/0309136', undefined],
    ['math.gt/0309136', 'math.GT/0309136', undefined],
    ['cond-mat/0207270v1', 'cond-mat/0207270', 1],
    // OAI identifiers in arXiv RSS GUIDs
    ['oai:arXiv.org:2411.17700v1', '2411.17700', 1],
    ['oai:arXiv.org:hep-th/9901001v3', 'hep-th/9901001', 3],
    // arXiv URLs
    ['https://arxiv.org/abs/2411.17700', '2411.17700', undefined],
    ['http://arxiv.org/abs/2411.17700v2', '2411.17700', 2],
    ['https://arxiv.org/pdf/2411.17700', '2411.17700', undefined],
    ['https://arxiv.org/pdf/2411.17700v2.pdf', '2411.17700', 2],
    ['https://arxiv.org/html/2411.17700v1#S2', '2411.17700', 1],
    ['https://export.arxiv.org/abs/math/0309136v1', 'math/0309136', 1],
    ['http://arxiv.org/abs/astro-ph/9812133?context=astro-ph', 'astro-ph/9812133', undefined],
    ['https://www.arxiv.org/abs/2411.17700v3?context=cs.LG', '2411.17700', 3],
    // Hugging Face paper pages and API
    ['https://huggingface.co/papers/2411.17700', '2411.17700', undefined],
    ['https://huggingface.co/api/papers/2411.17700', '2411.17700', undefined],
    // arXiv DOIs
    ['https://doi.org/10.48550/arXiv.2411.17700', '2411.17700', undefined],
    ['10.48550/ARXIV.2411.17700', '2411.17700', undefined],
    // the old RSS 1.0 title suffix
    ['Measurement of X at Belle. (arXiv:1805.08875v1 [hep-ex] UPDATED)', '1805.08875', 1],
    ['Old paper. (arXiv:hep-ex/0307015v2 [hep-ex])', 'hep-ex/0307015', 2],
  ])('reads %j as %s version %s', (text, id, version) => {
    expect(parseArxivRef(text)).toEqual(version === undefined ? { id } : { id, version });
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['   '],
    ['10.1145/3292500.3330701'],
    ['https://doi.org/10.1038/s41586-021-03819-2'],
    ['2024-11-27'],
    ['2024.11.27'],
    ['1234.567'],
    ['https://example.com/abs/2411.17700'],
    ['see page 2411 of volume 17700'],
    ['ASTRO-PH'],
  ])('finds no arXiv id in %j', (text) => {
    expect(parseArxivRef(text)).toBeUndefined();
  });
});

describe('titleFingerprint', () => {
  it.each([
    ['Attention Is All You Need', 'attention is all you need'],
    ['  Attention   is all\nyou need!  ', 'attention is all you need'],
    ['Self-Supervised Learning: A Survey', 'self supervised learning a survey'],
    ['ＦＵＬＬ－ＷＩＤＴＨ Ｔｉｔｌｅ', 'full width title'],
    ['ﬁne-tuning ﬂows', 'fine tuning flows'],
    ['Über Schätzung', 'über schätzung'],
    ['基于深度学习的论文推荐系统', '基于深度学习的论文推荐系统'],
    ['GPT-4 vs. GPT-3.5', 'gpt 4 vs gpt 3 5'],
    ['$\\alpha$-Entmax', 'alpha entmax'],
    ['!!! ???', ''],
  ])('fingerprints %j as %j', (title, fingerprint) => {
    expect(titleFingerprint(title)).toBe(fingerprint);
  });

  it('gives titles that differ only in case, punctuation and spacing the same fingerprint', () => {
    expect(titleFingerprint('LoRA: Low-Rank Adaptation of Large Language Models')).toBe(
      titleFingerprint('LORA -- low rank adaptation of large language models.'),
    );
  });

  it('has a fingerprint exactly when it is not empty (hasFingerprint), whatever the text', () => {
    for (const t of ['!!! ???', '', ' - ', '$', 'a', '?9', 'ＦＵＬＬ', '—…—', '基', '\u0301']) {
      expect(hasFingerprint(t), t).toBe(titleFingerprint(t) !== '');
    }
    const chars = fc.constantFrom(
      'a',
      'Z',
      '7',
      ' ',
      '-',
      '!',
      '.',
      'é',
      'Ｆ',
      '－',
      '基',
      '\u0301',
      '—',
      '$',
    );
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 8 }), (cs) => {
        const t = cs.join('');
        expect(hasFingerprint(t)).toBe(titleFingerprint(t) !== '');
      }),
      { numRuns: 2000 },
    );
  });

  it('tells apart titles that differ in a word', () => {
    expect(titleFingerprint('Scaling Laws for Language Models')).not.toBe(
      titleFingerprint('Scaling Laws for Vision Models'),
    );
  });
});

describe('findCodeLinks', () => {
  it.each([
    ['Code is available at https://github.com/a/b.', ['https://github.com/a/b']],
    [
      'See https://github.com/a/b, and https://a.github.io/page/!',
      ['https://github.com/a/b', 'https://a.github.io/page/'],
    ],
    [
      'Code (https://gitlab.com/x/y) and data [https://huggingface.co/datasets/x/y].',
      ['https://gitlab.com/x/y', 'https://huggingface.co/datasets/x/y'],
    ],
    ['Twice: https://github.com/a/b and again https://github.com/a/b.', ['https://github.com/a/b']],
    [
      'Extends https://arxiv.org/abs/2411.17700 and http://export.arxiv.org/abs/1/2; code: http://github.com/a/b',
      ['http://github.com/a/b'],
    ],
    ['Project page: https://example.org/p?x=1&y=2#top;', ['https://example.org/p?x=1&y=2#top']],
    ['No links here, only github.com/a/b without a scheme.', []],
    ['HTTPS://GitHub.com/a/b in capitals', ['HTTPS://GitHub.com/a/b']],
    ['A scheme with no slashes, https:github.com/a/b, and :// alone', []],
    ['', []],
  ])('finds in %j the links %j', (text, links) => {
    expect(findCodeLinks(text)).toEqual(links);
  });
});

describe('fingerprintHash', () => {
  it('equals the hash of the fingerprint, for ASCII and any other text', () => {
    const pieces = fc.constantFrom(
      'Multi-Task',
      ' ',
      '  ',
      '\n',
      '--',
      'ABC',
      'x9',
      '(v2)',
      'É',
      'ﬁ',
      '①',
      '.',
      'a',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string()), { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        expect(fingerprintHash(text)).toBe(hash64(titleFingerprint(text)));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['Gradient Surgery for Multi-Task Learning', '  gradient surgery -- for multi task learning!! '],
    ['ATTENTION is all you need', 'Attention Is All You Need.'],
  ])('gives %j and %j the same hash', (a, b) => {
    expect(fingerprintHash(a)).toBe(fingerprintHash(b));
  });

  // Stored alias keys and abstract hashes are these values: a change of hash is a migration.
  it.each([
    ['', '5db4a501ca900797', '5db4a501ca900797'],
    ['Attention Is All You Need', '265b362a41096312', '981b11075ed04fca'],
    [
      'We propose a new method, called X-Net (v2), for   large-scale   retrieval.',
      'd288d2b03526f6fd',
      '286950b0d54aeee7',
    ],
    ['Ünïcödé title — with dashes', 'ad26f3609be1baa3', 'a08156d1f9158a89'],
    ['arxiv:2401.00001', 'f421c1a375a06c4f', '28f38491ab94a01c'],
  ])('hashes %j as it always has', (text, fingerprint, plain) => {
    expect(fingerprintHash(text)).toBe(fingerprint);
    expect(hash64(text)).toBe(plain);
  });

  it('writes every hash as 16 lowercase hex digits, leading zeros kept', () => {
    // The loop and finish as first written, digits by toString(16) and padStart.
    const reference = (text: string) => {
      let h1 = 0x811c9dc5 | 0;
      let h2 = 0x9747b28c | 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        h1 = Math.imul(h1 ^ c, 0x01000193);
        h2 = Math.imul(h2 ^ c, 0x5bd1e995);
        h2 ^= h2 >>> 15;
      }
      h1 ^= h1 >>> 16;
      h1 = Math.imul(h1, 0x85ebca6b);
      h1 ^= h1 >>> 13;
      h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
      h2 ^= h2 >>> 16;
      return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
    };
    let padded = 0;
    fc.assert(
      fc.property(fc.string(), (text) => {
        const h = hash64(text);
        expect(h).toMatch(/^[0-9a-f]{16}$/);
        expect(h).toBe(reference(text));
        if (h[0] === '0' || h[8] === '0') padded++;
      }),
      { numRuns: 3000 },
    );
    // ~1 in 8 hashes has a half starting with a zero: the padding was exercised.
    expect(padded).toBeGreaterThan(100);
  });
});

describe('normalizeSpace', () => {
  it('folds whitespace exactly as replace(/\\s+/g, " ").trim() does', () => {
    const pieces = fc.constantFrom(
      ' ',
      '  ',
      '\n',
      '\t',
      '\r\n',
      '\u00a0',
      '\u2003',
      '\u3000',
      '\ufeff',
      '\u2028',
      '\u0085',
      '\u200b',
      '\v',
      '\f',
      '\u1680',
      '\u205f',
      'a',
      'Bé',
      '.',
      'x y',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string()), { maxLength: 25 }), (parts) => {
        const text = parts.join('');
        expect(normalizeSpace(text)).toBe(text.replace(/\s+/g, ' ').trim());
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['', ''],
    ['   ', ''],
    ['already normal', 'already normal'],
    ['  lead and trail  ', 'lead and trail'],
    ['Abstract:\n  We  propose\ta model.\n', 'Abstract: We propose a model.'],
  ])('turns %j into %j', (input, expected) => {
    expect(normalizeSpace(input)).toBe(expected);
  });
});

describe('detachText', () => {
  it.each([
    ['short'],
    ['A title long enough to be a slice'],
    ['Ünïcödé title with ℵ and 😀 emoji'],
    ['lone \ud800 surrogate in a long string'],
    ['lone trailing \udc00 surrogate too'],
  ])('returns an equal string for %j', (text) => {
    const parent = `prefix ${text} suffix`;
    const cut = parent.slice(7, 7 + text.length);
    expect(detachText(cut)).toBe(text);
  });
});
