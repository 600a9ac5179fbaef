/** Finding one paper from what a person typed: a record id, an arXiv id, a URL or a title. */
import { arxivKey, fingerprintKey, type Paper, parseArxivRef } from '../core/paper.js';
import type { Store } from '../store/types.js';

/** Finds a paper by record id, arXiv id, arXiv/HF URL or exact title (case and punctuation folded). */
export async function findPaper(store: Store, ref: string): Promise<Paper | undefined> {
  const trimmed = ref.trim();
  if (trimmed === '') return undefined;
  const candidates: string[] = [];
  if (/^(?:arxiv|fp):/i.test(trimmed)) candidates.push(trimmed.replace(/^arxiv:/i, 'arxiv:'));
  const arxiv = parseArxivRef(trimmed);
  if (arxiv) candidates.push(arxivKey(arxiv.id));
  candidates.push(fingerprintKey(trimmed));
  const resolved = await store.papers.resolve(candidates);
  for (const key of candidates) {
    const id = resolved.get(key);
    if (id === undefined) continue;
    const paper = (await store.papers.getMany([id])).get(id);
    if (paper) return paper;
  }
  // A record id the aliases do not know (an `fp:` id is also its alias, an `arxiv:` one too).
  if (/^(?:arxiv|fp):/i.test(trimmed)) return (await store.papers.getMany([trimmed])).get(trimmed);
  return undefined;
}
