/**
 * Deciding what a sighting means for the store: a new paper, an update of a known one, or a
 * duplicate. Pure: the pipeline loads the candidates, calls these, and writes the result.
 */
import {
  arxivKey,
  arxivLinks,
  fingerprintHash,
  fingerprintKey,
  hasFingerprint,
  identityKeys,
  newPaperId,
  type Paper,
  type PaperId,
  type PaperSighting,
  type PaperUpdate,
} from './paper.js';

export type SightingOutcome = 'new' | 'updated' | 'duplicate';

/** The most updates kept per paper; older ones are dropped first. */
export const MAX_UPDATES = 20;

/**
 * Which stored paper a sighting is, given what its alias keys resolved to.
 *
 * An arXiv id match always wins. A title-fingerprint match is the same paper unless both sides
 * carry different arXiv ids: two papers may share a title, one paper never has two ids.
 */
export function chooseTarget(
  s: Pick<PaperSighting, 'arxivId' | 'title'>,
  resolved: ReadonlyMap<string, PaperId>,
  papers: ReadonlyMap<PaperId, Paper>,
  keys: readonly string[] = identityKeys(s),
): PaperId | undefined {
  if (s.arxivId) {
    const byId = resolved.get(arxivKey(s.arxivId));
    if (byId !== undefined) return byId;
  }
  const titleKey = keys.find((k) => k.startsWith('fp:'));
  const byTitle = titleKey === undefined ? undefined : resolved.get(titleKey);
  if (byTitle === undefined) return undefined;
  const candidate = papers.get(byTitle);
  if (candidate === undefined) return undefined;
  if (s.arxivId && candidate.arxivId && candidate.arxivId !== s.arxivId) return undefined;
  return byTitle;
}

/** Alias keys that should point at `paper` after this sighting, for the ones not yet known. */
export function newAliases(
  paper: Paper,
  s: Pick<PaperSighting, 'arxivId' | 'title'>,
  resolved: ReadonlyMap<string, PaperId>,
  keys: readonly string[] = identityKeys(s),
): Array<[string, PaperId]> {
  const out: Array<[string, PaperId]> = [];
  const all = [paper.id, ...keys];
  if (paper.arxivId) all.push(arxivKey(paper.arxivId));
  // A retitled version is also found under its new title.
  if (paper.title !== s.title && hasFingerprint(paper.title)) all.push(fingerprintKey(paper.title));
  for (const k of new Set(all)) {
    // First writer wins for a fingerprint: a later same-titled paper never steals it.
    if (!resolved.has(k)) out.push([k, paper.id]);
  }
  return out;
}

/** Abstracts compared the way a reader would: case, spacing and punctuation don't count. */
export function abstractHash(text: string): string {
  return fingerprintHash(text);
}

function union(a: readonly string[], b: readonly string[]): string[] {
  if (b.every((x) => a.includes(x))) return [...a];
  return [...new Set([...a, ...b])];
}

/** A brand-new paper from its first sighting. */
export function createPaper(s: PaperSighting, source: string, now: string): Paper {
  const paper: Paper = {
    id: newPaperId(s),
    title: s.title,
    abstract: s.abstract,
    authors: [...s.authors],
    categories: [...s.categories],
    links: { ...(s.arxivId ? arxivLinks(s.arxivId) : {}), ...s.links, code: [...s.links.code] },
    sources: [source],
    firstSeen: now,
  };
  if (s.arxivId) paper.arxivId = s.arxivId;
  if (s.version !== undefined) paper.version = s.version;
  // No hash of the abstract yet: `mergeSighting` makes it from the abstract if another sighting
  // comes. Most papers are seen once, and hashing every new abstract cost ~0.5 s of a 100k-paper
  // cycle's main thread (~5 ns a character).
  if (s.published !== undefined) paper.published = s.published;
  return paper;
}

/**
 * Folds a sighting into the paper it was identified as.
 *
 * A higher arXiv version or a changed abstract is an update (recorded in `updates`, newest
 * text kept); anything else is a duplicate, though it may still fill in what the paper lacked
 * (an arXiv id learnt from a feed for a paper first seen in a digest, authors, links).
 * Returns `changed: false` when nothing needs writing.
 */
export function mergeSighting(
  existing: Paper,
  s: PaperSighting,
  source: string,
  now: string,
): { paper: Paper; outcome: SightingOutcome; changed: boolean } {
  const p: Paper = { ...existing, links: { ...existing.links } };
  let changed = false;

  const versionUp = s.version !== undefined && existing.version !== undefined && s.version > existing.version;
  // A paper's hashes are recorded once its abstract changes; until then, its abstract's.
  const seen = existing.abstractHashes ?? (existing.abstract === '' ? [] : [abstractHash(existing.abstract)]);
  const incoming = s.abstract === '' ? undefined : abstractHash(s.abstract);
  const abstractChanged = incoming !== undefined && seen.length > 0 && !seen.includes(incoming);
  // A lower version arriving late (an old replace entry) must not overwrite newer text.
  const stale = s.version !== undefined && existing.version !== undefined && s.version < existing.version;

  if ((versionUp || abstractChanged) && !stale) {
    const update: PaperUpdate = {
      at: now,
      source,
      kind: versionUp && abstractChanged ? 'version+abstract' : versionUp ? 'version' : 'abstract',
    };
    if (versionUp) {
      if (existing.version !== undefined) update.fromVersion = existing.version;
      if (s.version !== undefined) update.toVersion = s.version;
    }
    p.updates = [...(existing.updates ?? []), update].slice(-MAX_UPDATES);
    p.updatedAt = now;
    if (abstractChanged) {
      p.abstract = s.abstract;
      p.abstractHashes = [...seen, incoming].slice(-MAX_UPDATES);
    }
    if (s.title !== '' && versionUp) p.title = s.title;
    changed = true;
  }
  if (s.version !== undefined && (p.version === undefined || s.version > p.version)) {
    p.version = s.version;
    changed = true;
  }
  if (s.arxivId && !p.arxivId) {
    p.arxivId = s.arxivId;
    Object.assign(p.links, arxivLinks(s.arxivId));
    changed = true;
  }
  if (p.abstract === '' && incoming !== undefined) {
    p.abstract = s.abstract;
    p.abstractHashes = [incoming];
    changed = true;
  }
  if (p.authors.length === 0 && s.authors.length > 0) {
    p.authors = [...s.authors];
    changed = true;
  }
  const categories = union(p.categories, s.categories);
  if (categories.length !== p.categories.length) {
    p.categories = categories;
    changed = true;
  }
  for (const key of ['abs', 'pdf', 'hf'] as const) {
    const v = s.links[key];
    if (v !== undefined && p.links[key] === undefined) {
      p.links[key] = v;
      changed = true;
    }
  }
  const code = union(p.links.code, s.links.code);
  if (code.length !== p.links.code.length) {
    p.links.code = code;
    changed = true;
  }
  if (p.published === undefined && s.published !== undefined) {
    p.published = s.published;
    changed = true;
  }
  if (!p.sources.includes(source)) {
    p.sources = [...p.sources, source];
    changed = true;
  }

  const outcome: SightingOutcome = (versionUp || abstractChanged) && !stale ? 'updated' : 'duplicate';
  return { paper: p, outcome, changed };
}
