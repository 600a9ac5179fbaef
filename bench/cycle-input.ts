/**
 * The full cycle's input, made before the cycle and in a process of its own:
 *   node --import tsx bench/cycle-input.ts <dir> <papers>
 * Writes the feeds a cycle reads, in order: `00001.xml`, `00002.xml`, … (arXiv RSS 2.0, 2000 items
 * each) with every tenth an HF digest dump (`.txt`), papers whose words follow the seeds'
 * frequencies (bench/match.ts). The cycle (bench/cycle-worker.ts) reads them as it would read
 * fetched bodies, so making them is neither in its time nor on its threads.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SyntheticPaper, seedWordCounts, toArxivRss, toDigestText, zipfPapers } from './corpus.js';

/** Papers per feed: a busy arXiv category's daily announcement. */
const FEED_PAPERS = 2000;

const [dir, papers] = process.argv.slice(2);
if (!dir || !papers) throw new Error('usage: cycle-input.ts <dir> <papers>');
mkdirSync(dir, { recursive: true });
const counts = seedWordCounts(join(import.meta.dirname, '../seeds'));
const files: string[] = [];
let chunk: SyntheticPaper[] = [];
const flush = () => {
  if (chunk.length === 0) return;
  const n = files.length + 1;
  const digest = n % 10 === 0;
  const file = join(dir, `${String(n).padStart(5, '0')}.${digest ? 'txt' : 'xml'}`);
  writeFileSync(file, digest ? toDigestText(chunk) : toArxivRss(chunk, 'cs.LG'));
  files.push(file);
  chunk = [];
};
for (const p of zipfPapers(Number(papers), counts)) {
  chunk.push({
    arxivId: p.arxivId as string,
    version: 1,
    title: p.title,
    abstract: p.abstract,
    authors: p.authors,
    categories: p.categories,
    announce: 'new',
  });
  if (chunk.length === FEED_PAPERS) flush();
}
flush();
process.stdout.write(`${JSON.stringify({ dir, files: files.length })}\n`);
