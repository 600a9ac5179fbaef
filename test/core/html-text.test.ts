import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anchorHrefs, decodeEntities, htmlToText, tidyParagraphs } from '../../src/core/html-text.js';

describe('decodeEntities', () => {
  it.each([
    ['Tom &amp; Jerry', 'Tom & Jerry'],
    ['&lt;b&gt; &quot;q&quot; &apos;a&apos;', '<b> "q" \'a\''],
    ['caf&eacute; &Eacute;cole na&iuml;ve &yuml; &nbsp;', 'café École naïve ÿ \u00a0'],
    ['&times; &divide; &frac12; &deg;', '× ÷ ½ °'],
    ['&alpha;&beta; &Sigma; &Omega; &sigmaf; &omega;', 'αβ Σ Ω ς ω'],
    ['&mdash; &ndash; &hellip; &ldquo;x&rdquo; &euro; &trade; &le; &infin;', '— – … “x” € ™ ≤ ∞'],
    ['&#233; &#xE9; &#X1F600; &#37;', 'é é 😀 %'],
    ['&#0; &#xD800; &#x110000;', '\uFFFD \uFFFD \uFFFD'],
    ['&unknown; &amp &; AT&T', '&unknown; &amp &; AT&T'],
  ])('decodes %j', (text, decoded) => {
    expect(decodeEntities(text)).toBe(decoded);
  });
});

describe('htmlToText', () => {
  it.each([
    ['<p>One.</p><p>Two <b>bold</b> <a href="x">link</a>.</p>', 'One.\n\nTwo bold link.'],
    ['Line<br>break<br/>here', 'Line break here'],
    ['<div>A</div>\n\n\n<div>B</div>', 'A\n\nB'],
    ['$k<n$ and $a < b$ stay', '$k<n$ and $a < b$ stay'],
    ['Escaped &lt;b&gt;tag&lt;/b&gt; stays visible', 'Escaped <b>tag</b> stays visible'],
    ['<script>alert(1)</script><style>p{}</style>Text<!-- hidden -->', 'Text'],
    ['<img src="a.png" alt="x > y"/>Caption', 'Caption'],
    ['<ul><li>one</li><li>two</li></ul>', 'one\n\ntwo'],
    ['  plain\n  text  ', 'plain text'],
    ['', ''],
  ])('turns %j into %j', (html, text) => {
    expect(htmlToText(html)).toBe(text);
  });
});

/** tidyParagraphs as it was written first: split at blank lines, normalise, drop empty ones. */
const tidyBySplitting = (text: string): string =>
  text
    .split(/\n[^\S\n]*\n\s*/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p !== '')
    .join('\n\n');

describe('tidyParagraphs', () => {
  it('gives what splitting at blank lines and normalising each paragraph gives', () => {
    const pieces = fc.constantFrom(
      ' ',
      '  ',
      '\n',
      '\n\n',
      ' \n \n ',
      '\r\n',
      '\r\n\r\n',
      '\t',
      '\v',
      '\u00a0',
      '\u2003',
      '\u2028',
      '\u3000',
      '\ufeff',
      'word',
      'Bé',
      '$k<n$',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string()), { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        expect(tidyParagraphs(text)).toBe(tidyBySplitting(text));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['', ''],
    [' \n\n ', ''],
    ['one two', 'one two'],
    ['one\ntwo', 'one two'],
    ['one\n\ntwo', 'one\n\ntwo'],
    ['one \u00a0\n \n\n\ttwo  three\n', 'one\n\ntwo three'],
  ])('tidies %j into %j', (text, tidy) => {
    expect(tidyParagraphs(text)).toBe(tidy);
    expect(tidyBySplitting(text)).toBe(tidy);
  });

  it('joins hard-wrapped lines and keeps blank-line paragraph breaks', () => {
    expect(tidyParagraphs('  First line\nwrapped.\n\n \n  Second   para.\r\n\r\nThird.\n')).toBe(
      'First line wrapped.\n\nSecond para.\n\nThird.',
    );
  });
});

describe('anchorHrefs', () => {
  it('lists hrefs in order, quoted or not, entities decoded', () => {
    const html = `<a href="https://github.com/a/b?x=1&amp;y=2">code</a> <A HREF='https://x.org'>x</A> <a href=https://y.org/>y</a> <a name="n">n</a>`;
    expect(anchorHrefs(html)).toEqual(['https://github.com/a/b?x=1&y=2', 'https://x.org', 'https://y.org/']);
  });
});
