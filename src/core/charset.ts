/**
 * Fetched bytes → text, in the character encoding the feed was written in.
 *
 * Most feeds are UTF-8, but journals and regional sites still publish ISO-8859-1, GB2312 or
 * Shift_JIS, and say so in the Content-Type header, in the XML declaration, or both. Pure: the
 * global `TextDecoder` (full ICU in Node 20) does the decoding.
 */

/** Where the encoding came from, in the order they are consulted. */
export type CharsetSource = 'bom' | 'header' | 'xml-declaration' | 'utf16-pattern' | 'default';

export interface DetectedCharset {
  /** The WHATWG encoding name `TextDecoder` will use, e.g. `utf-8`, `windows-1252`, `gbk`. */
  encoding: string;
  source: CharsetSource;
  /** Length in bytes of the byte order mark to skip, 0 when there is none. */
  bomLength: number;
}

/** The canonical encoding for a label, or undefined when `TextDecoder` does not know it. */
function canonicalEncoding(label: string): string | undefined {
  try {
    return new TextDecoder(label.trim()).encoding;
  } catch {
    return undefined;
  }
}

function sniffBom(bytes: Uint8Array): { encoding: string; length: number } | undefined {
  const [a, b, c] = bytes;
  if (a === 0xef && b === 0xbb && c === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (a === 0xff && b === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (a === 0xfe && b === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/** `charset` parameter of a Content-Type header value, e.g. `text/xml; charset="ISO-8859-1"`. */
function charsetFromContentType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const label = m?.[1] ?? m?.[2];
  return label === undefined || label.trim() === '' ? undefined : label;
}

/** How far into the body an XML declaration can reach before we stop looking. */
const DECLARATION_WINDOW = 1024;

/** `encoding` of an XML declaration, read from the first bytes as Latin-1. */
function encodingFromXmlDeclaration(bytes: Uint8Array): string | undefined {
  // Latin-1 maps every byte to one code unit, so this works whatever the real encoding is,
  // as long as it is ASCII-compatible (the only case where the declaration is readable).
  const head = String.fromCharCode(...bytes.subarray(0, DECLARATION_WINDOW));
  const m = /^\s*<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][\w.:-]*)\1/.exec(head);
  return m?.[2];
}

/**
 * Works out the encoding of a fetched body. A byte order mark is decisive (as in the WHATWG
 * and XML specifications); otherwise the Content-Type `charset`, then the XML declaration's
 * `encoding`, then UTF-16 recognised from the `<?` pattern, then UTF-8. A label `TextDecoder`
 * does not know is skipped, never an error.
 */
export function detectCharset(bytes: Uint8Array, contentType?: string): DetectedCharset {
  const bom = sniffBom(bytes);
  // A server that says charset=iso-8859-1 about a file saved as "UTF-8 with BOM" is common;
  // the BOM cannot be there by accident, the header can.
  if (bom) return { encoding: bom.encoding, source: 'bom', bomLength: bom.length };

  const fromHeader = charsetFromContentType(contentType);
  const headerEncoding = fromHeader === undefined ? undefined : canonicalEncoding(fromHeader);
  if (headerEncoding) return { encoding: headerEncoding, source: 'header', bomLength: 0 };

  const declared = encodingFromXmlDeclaration(bytes);
  const declaredEncoding = declared === undefined ? undefined : canonicalEncoding(declared);
  // A declaration we could read as ASCII cannot be truthfully UTF-16 (XML 1.0 appendix F):
  // it is a mislabelled UTF-8 file.
  if (declaredEncoding && !declaredEncoding.startsWith('utf-16')) {
    return { encoding: declaredEncoding, source: 'xml-declaration', bomLength: 0 };
  }

  // UTF-16 without a BOM still starts with "<?" in two-byte units.
  const [a, b, c, d] = bytes;
  if (a === 0x3c && b === 0x00 && c === 0x3f && d === 0x00) {
    return { encoding: 'utf-16le', source: 'utf16-pattern', bomLength: 0 };
  }
  if (a === 0x00 && b === 0x3c && c === 0x00 && d === 0x3f) {
    return { encoding: 'utf-16be', source: 'utf16-pattern', bomLength: 0 };
  }
  return { encoding: 'utf-8', source: 'default', bomLength: 0 };
}

// WHATWG index-windows-1252 for 0x80–0x9F; every other byte is its own code point.
const WINDOWS_1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
  0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a,
  0x153, 0x9d, 0x17e, 0x178,
];

/**
 * windows-1252 by hand: Node 20.18.3+ decodes it as ISO-8859-1, turning smart quotes and dashes
 * into C1 control characters (nodejs/node#60888). It is also what the ISO-8859-1, latin1 and
 * ASCII labels mean, so most "Latin-1" feeds go through here.
 */
function decodeWindows1252(bytes: Uint8Array): string {
  const CHUNK = 8192;
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const units = Array.from(bytes.subarray(i, i + CHUNK), (b) =>
      b >= 0x80 && b <= 0x9f ? (WINDOWS_1252_HIGH[b - 0x80] ?? b) : b,
    );
    out += String.fromCharCode(...units);
  }
  return out;
}

/**
 * Decodes a fetched feed body to a string. The encoding comes from {@link detectCharset};
 * undecodable bytes become U+FFFD rather than an error, and a leading BOM is removed.
 *
 * The XML declaration stays in the text. That is harmless: the XML parser reads a JS string
 * and ignores the declared encoding.
 */
export function decodeBody(bytes: Uint8Array, contentType?: string): string {
  const { encoding, bomLength } = detectCharset(bytes, contentType);
  const body = bytes.subarray(bomLength);
  const text = encoding === 'windows-1252' ? decodeWindows1252(body) : new TextDecoder(encoding).decode(body);
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}
