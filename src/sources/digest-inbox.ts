/**
 * File sources: one HF Daily Papers text dump, or a directory of them; a saved feed (RSS, Atom,
 * an arXiv API answer, HF daily-papers JSON) is read as the same feed fetched would be. A file
 * whose content hash is already recorded is skipped without being read past hashing; a changed
 * file is parsed again; a file that is neither is reported, never half-ingested.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { decodeBody } from '../core/charset.js';
import { parseDigest } from '../core/digest.js';
import { parseFeed } from '../core/feed.js';
import type { PaperSighting } from '../core/paper.js';

export interface DigestFileRead {
  file: string;
  hash: string;
  status: 'parsed' | 'unchanged' | 'failed';
  papers: PaperSighting[];
  error?: string;
  date?: string;
}

/** Files in a directory source that are never digests (editor and OS droppings). */
const IGNORED = /^(?:\.|~|Thumbs\.db$|desktop\.ini$)|~$|\.(?:swp|tmp|part)$/i;

/**
 * Reads a digest file or every digest file in a directory (sorted by name, not recursive).
 * `known` maps file path → content hash of what was already ingested.
 * Throws only when the path itself cannot be read (missing, permission).
 */
export async function readDigestSource(
  path: string,
  known: Readonly<Record<string, string>>,
  opts: { force?: boolean } = {},
): Promise<DigestFileRead[]> {
  const info = await stat(path);
  const files = info.isDirectory()
    ? (await readdir(path, { withFileTypes: true }))
        .filter((e) => e.isFile() && !IGNORED.test(e.name))
        .map((e) => join(path, e.name))
        .sort()
    : [path];
  const out: DigestFileRead[] = [];
  for (const file of files) {
    const bytes = await readFile(file);
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (!opts.force && known[file] === hash) {
      out.push({ file, hash, status: 'unchanged', papers: [] });
      continue;
    }
    // A feed starts with markup or JSON (after any byte order mark); a digest is plain text. Its
    // first kilobyte tells which, decoded by the same rules as the whole.
    const first = decodeBody(bytes.subarray(0, 1024)).trimStart()[0];
    if (first === '<' || first === '{' || first === '[') {
      out.push(await readFeedFile(file, hash, decodeBody(bytes)));
      continue;
    }
    const text = decodeUtf8(bytes);
    if (text === undefined) {
      out.push({
        file,
        hash,
        status: 'failed',
        papers: [],
        error: `${basename(file)}: not a digest: not UTF-8 text`,
      });
      continue;
    }
    const mtime = (await stat(file)).mtime;
    const parsed = parseDigest(text, { referenceDate: mtime });
    if (!parsed.ok) {
      out.push({ file, hash, status: 'failed', papers: [], error: `${basename(file)}: ${parsed.error}` });
      continue;
    }
    const read: DigestFileRead = { file, hash, status: 'parsed', papers: parsed.papers };
    if (parsed.date !== undefined) read.date = parsed.date;
    out.push(read);
  }
  return out;
}

/** A saved feed, decoded by its byte order mark or XML declaration as a fetched body is. */
async function readFeedFile(file: string, hash: string, text: string): Promise<DigestFileRead> {
  const parsed = await parseFeed(text, { sourceName: basename(file) });
  if (!parsed.ok)
    return { file, hash, status: 'failed', papers: [], error: `${basename(file)}: ${parsed.error}` };
  return { file, hash, status: 'parsed', papers: parsed.papers };
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
