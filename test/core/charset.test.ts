import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBody, detectCharset } from '../../src/core/charset.js';
import { parseFeed } from '../../src/core/feed.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url)));

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...parts: (readonly number[] | Uint8Array)[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) out.push(...p);
  return new Uint8Array(out);
};
/** UTF-16 code units of an ASCII/BMP string, little- or big-endian. */
const utf16 = (s: string, endian: 'le' | 'be'): number[] =>
  [...s].flatMap((ch) => {
    const c = ch.charCodeAt(0);
    return endian === 'le' ? [c & 0xff, c >> 8] : [c >> 8, c & 0xff];
  });

const XML_DECL_LATIN1 = '<?xml version="1.0" encoding="ISO-8859-1"?>\n';

describe('decodeBody', () => {
  it('decodes an ISO-8859-1 feed by its XML declaration', () => {
    const text = decodeBody(fixture('generic-rss-latin1.xml'));
    expect(text).toContain('<dc:creator>José Müller</dc:creator>');
    expect(text).toContain('<title>Über die Schätzung von Fehlern bei spärlichen Matrizen</title>');
    expect(text).not.toContain('\uFFFD');
  });

  it('decodes a GB2312 feed by its XML declaration', () => {
    const text = decodeBody(fixture('generic-rss-gb2312.xml'));
    expect(text).toContain('<title>基于深度学习的论文推荐系统</title>');
    expect(text).toContain('<author>张伟</author>');
  });

  it('lets the Content-Type charset override a wrong XML declaration', () => {
    // A UTF-8 file that claims ISO-8859-1, served with an honest header.
    const body = utf8(`${XML_DECL_LATIN1}<name>José</name>`);
    expect(decodeBody(body, 'application/rss+xml; charset=utf-8')).toBe(
      `${XML_DECL_LATIN1}<name>José</name>`,
    );
    // Without the header the declaration is believed, as a parser would.
    expect(decodeBody(body)).toBe(`${XML_DECL_LATIN1}<name>JosÃ©</name>`);
  });

  it('lets the Content-Type charset override the declaration of a GB2312 file', () => {
    const body = fixture('generic-rss-gb2312.xml');
    expect(decodeBody(body, 'text/xml; charset=GB2312')).toContain('<title>计算机学报 最新论文</title>');
    // Read as Latin-1 on the header's word, the Chinese turns into Latin letters.
    expect(decodeBody(body, 'text/xml; charset=iso-8859-1')).not.toContain('计算机学报');
  });

  it.each([
    ['text/xml; charset="ISO-8859-1"', [0x4a, 0x6f, 0x73, 0xe9], 'José'],
    ['text/xml;charset=latin1', [0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72], 'Müller'],
    ['text/plain; CHARSET=Shift_JIS', [152, 95, 149, 182], '論文'],
    ['application/xml; charset=gbk', [0xd5, 0xc5, 0xce, 0xb0], '张伟'],
    // WHATWG reads the ISO-8859-1 label as windows-1252, as browsers do: 0x93/0x94 are quotes.
    ['text/html; charset=iso-8859-1', [0x93, 0x53, 0x94, 0x20, 0x96], '“S” –'],
  ])('decodes with the header charset in %s', (contentType, raw, expected) => {
    expect(decodeBody(new Uint8Array(raw), contentType)).toBe(expected);
  });

  it('maps 0x80–0x9F of windows-1252 to the characters Windows puts there', () => {
    const body = new Uint8Array([
      0x80, 0x85, 0x8a, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0x99, 0x9f, 0x81, 0xe9,
    ]);
    expect(decodeBody(body, 'text/xml; charset=windows-1252')).toBe('€…Š‘’“”–—™Ÿ\u0081é');
  });

  it('decodes a windows-1252 body longer than one decoding chunk', () => {
    const body = new Uint8Array(20_000).fill(0x93);
    body[19_999] = 0x94;
    const text = decodeBody(body, 'text/plain; charset=cp1252');
    expect(text).toHaveLength(20_000);
    expect(text.startsWith('““')).toBe(true);
    expect(text.endsWith('“”')).toBe(true);
  });

  it('strips a UTF-8 byte order mark', () => {
    expect(decodeBody(bytes([0xef, 0xbb, 0xbf], utf8('<rss/>')))).toBe('<rss/>');
  });

  it.each([
    ['little-endian', [0xff, 0xfe], 'le'],
    ['big-endian', [0xfe, 0xff], 'be'],
  ] as const)('decodes %s UTF-16 with a byte order mark', (_name, bom, endian) => {
    expect(decodeBody(bytes(bom, utf16('<rss>é</rss>', endian)))).toBe('<rss>é</rss>');
  });

  it('trusts a byte order mark over a header that contradicts it', () => {
    const body = bytes([0xef, 0xbb, 0xbf], utf8('<name>José</name>'));
    expect(decodeBody(body, 'text/xml; charset=iso-8859-1')).toBe('<name>José</name>');
  });

  it('recognises UTF-16 without a byte order mark from its "<?" pattern', () => {
    const decl = '<?xml version="1.0" encoding="UTF-16"?><a>x</a>';
    expect(decodeBody(new Uint8Array(utf16(decl, 'le')))).toBe(decl);
    expect(decodeBody(new Uint8Array(utf16(decl, 'be')))).toBe(decl);
  });

  it('reads a file declared UTF-16 but written in single bytes as UTF-8', () => {
    const text = '<?xml version="1.0" encoding="UTF-16"?><name>José</name>';
    expect(decodeBody(utf8(text))).toBe(text);
  });

  it.each([
    ['an unknown header charset', 'text/xml; charset=x-no-such-charset'],
    ['an empty header charset', 'text/xml; charset='],
    ['a header without charset', 'application/rss+xml'],
  ])('falls back to the XML declaration after %s', (_what, contentType) => {
    const xml = `${XML_DECL_LATIN1}<a>José</a>`;
    const latin1Bytes = new Uint8Array([...xml].map((c) => c.charCodeAt(0)));
    expect(decodeBody(latin1Bytes, contentType)).toBe(xml);
  });

  it('falls back to UTF-8 when the declared encoding is unknown', () => {
    const text = '<?xml version="1.0" encoding="x-klingon"?><a>José 论文</a>';
    expect(decodeBody(utf8(text))).toBe(text);
  });

  it('decodes to UTF-8 when nothing names an encoding', () => {
    expect(decodeBody(utf8('<rss><title>论文 – José</title></rss>'))).toBe(
      '<rss><title>论文 – José</title></rss>',
    );
  });

  it('turns invalid UTF-8 into replacement characters rather than failing', () => {
    expect(decodeBody(new Uint8Array([0x61, 0xff, 0x62]))).toBe('a\uFFFDb');
  });

  it('decodes an empty body to an empty string', () => {
    expect(decodeBody(new Uint8Array(), 'text/xml; charset=utf-8')).toBe('');
  });
});

describe('detectCharset', () => {
  it.each([
    ['a BOM', bytes([0xff, 0xfe], utf16('<a/>', 'le')), 'text/xml; charset=utf-8', 'utf-16le', 'bom', 2],
    ['the header', utf8(`${XML_DECL_LATIN1}<a/>`), 'text/xml; charset=Shift_JIS', 'shift_jis', 'header', 0],
    ['the XML declaration', utf8(`${XML_DECL_LATIN1}<a/>`), undefined, 'windows-1252', 'xml-declaration', 0],
    [
      'the UTF-16 pattern',
      new Uint8Array(utf16('<?xml version="1.0"?>', 'be')),
      undefined,
      'utf-16be',
      'utf16-pattern',
      0,
    ],
    ['nothing', utf8('<rss/>'), undefined, 'utf-8', 'default', 0],
  ])(
    'names the encoding and its source when it comes from %s',
    (_what, body, contentType, encoding, source, bomLength) => {
      expect(detectCharset(body, contentType)).toEqual({ encoding, source, bomLength });
    },
  );

  it('accepts single-quoted declarations with spaces around "="', () => {
    expect(detectCharset(utf8("<?xml version='1.0' encoding = 'gb2312' ?><a/>")).encoding).toBe('gbk');
  });
});

describe('decoded text and the XML parser', () => {
  it.each([
    [
      'generic-rss-latin1.xml',
      'Über die Schätzung von Fehlern bei spärlichen Matrizen',
      ['José Müller', 'Françoise Løvaas'],
    ],
    ['generic-rss-gb2312.xml', '基于深度学习的论文推荐系统', ['张伟']],
  ])('is not confused by the encoding declaration left in %s', async (file, title, authors) => {
    const result = await parseFeed(decodeBody(fixture(file)), { sourceName: 'test' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.papers[0]?.title).toBe(title);
    expect(result.papers[0]?.authors).toEqual(authors);
  });
});
