import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { arxivKey, fingerprintKey } from '../../src/core/paper.js';
import { type IngestOptions, ingest, mergeSightings, type SourceSpec } from '../../src/pipeline/ingest.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';

const SEEDS = join(import.meta.dirname, '../../seeds');

let dir: string;
let store: Store;
const opts = (over: Partial<IngestOptions> = {}): IngestOptions => ({
  store,
  failingAfter: 2,
  failingBackoffMinutes: 30,
  failingBackoffMaxMinutes: 120,
  concurrency: 2,
  ...over,
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paperboy-ingest-'));
  store = await openStore(`sqlite://${join(dir, 'store.sqlite')}`);
});
afterEach(async () => {
  await store.close();
});

describe('ingesting the seed digests', () => {
  const seeds: SourceSpec[] = [{ name: 'seeds', type: 'digest', path: SEEDS }];

  it('parses 668 entries into 544 new papers, one update and 123 duplicates', async () => {
    const r = await ingest(seeds, opts());
    expect(r).toMatchObject({ parsed: 668, new: 544, updated: 1, duplicates: 123, failedSources: [] });
    expect(r.newPaperIds).toHaveLength(544);
    expect(await store.papers.count()).toBe(544);
  });

  it('records the paper whose abstract differs between two dumps as an update, keeping the newer text', async () => {
    await ingest(seeds, opts());
    const id = (
      await store.papers.resolve([
        fingerprintKey(
          'AgentOrchestra: A Hierarchical Multi-Agent Framework for General-Purpose Task Solving',
        ),
      ])
    )
      .values()
      .next().value;
    expect(id).toBeDefined();
    const paper = (await store.papers.getMany([id as string])).get(id as string);
    expect(paper?.updates).toEqual([expect.objectContaining({ kind: 'abstract', source: 'seeds' })]);
    expect(paper?.abstractHashes).toHaveLength(2);
  });

  it('skips unchanged files on the second run and finds nothing new even when forced to re-read', async () => {
    await ingest(seeds, opts());
    const again = await ingest(seeds, opts());
    expect(again).toMatchObject({ parsed: 0, new: 0, updated: 0 });
    expect(again.sources[0]?.status).toBe('unchanged');
    const forced = await ingest(seeds, opts({ force: true }));
    expect(forced).toMatchObject({ parsed: 668, new: 0, updated: 0, duplicates: 668 });
    expect(await store.papers.count()).toBe(544);
  });

  it('re-reads a changed file and reports a file that is not a digest without ingesting any of it', async () => {
    const inbox = join(dir, 'inbox');
    cpSync(SEEDS, inbox, { recursive: true });
    writeFileSync(join(inbox, 'notes.txt'), 'Reading list\n\nFinish the survey.\n');
    const first = await ingest([{ name: 'inbox', type: 'digest', path: inbox }], opts());
    expect(first.new).toBe(544);
    expect(first.failedSources).toEqual([
      {
        source: `inbox: ${join(inbox, 'notes.txt')}`,
        error: expect.stringMatching(/notes\.txt: not an HF Daily Papers digest/),
      },
    ]);
    const file = join(inbox, '001_fa158a471daef1c5.txt');
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}\nA Brand New Paper About Multi-Task Ducks\nWe propose to teach ducks several tasks at once, and find that they learn them all quite well.\n`,
    );
    const second = await ingest([{ name: 'inbox', type: 'digest', path: inbox }], opts());
    expect(second).toMatchObject({ parsed: 86, new: 1, duplicates: 85 });
  });

  it('reads saved feeds in a file source as fetched feeds are read, and says which file is neither', async () => {
    const feeds = join(import.meta.dirname, '../fixtures/feeds');
    const inbox = join(dir, 'saved');
    mkdirSync(inbox);
    for (const f of [
      'arxiv-rss2-cs.xml',
      'generic-rss-latin1.xml',
      'hf-daily-papers.json',
      'not-a-feed.html',
    ])
      cpSync(join(feeds, f), join(inbox, f));
    cpSync(join(SEEDS, '000_11b81690870823e2.txt'), join(inbox, 'digest.txt'));
    const r = await ingest([{ name: 'saved', type: 'digest', path: inbox }], opts());
    const details = r.sources[0]?.details ?? [];
    expect(details).toContain(`${join(inbox, 'arxiv-rss2-cs.xml')}: 4 papers`);
    expect(details).toContain(`${join(inbox, 'generic-rss-latin1.xml')}: 1 papers`);
    expect(details).toContain(`${join(inbox, 'digest.txt')}: 106 papers (digest of 2026-09-01)`);
    expect(details.find((d) => d.startsWith(join(inbox, 'hf-daily-papers.json')))).toMatch(/: \d+ papers$/);
    expect(r.failedSources).toEqual([
      {
        source: `saved: ${join(inbox, 'not-a-feed.html')}`,
        error: 'not-a-feed.html: not a feed: got an HTML page ("Page Not Found | Example Journal")',
      },
    ]);
    // The ISO-8859-1 feed, decoded by its XML declaration.
    const titles: string[] = [];
    for await (const p of store.papers.iterate()) titles.push(p.title);
    expect(titles.some((t) => t.startsWith('Über die'))).toBe(true);
  });

  it('reports a missing path as a failed source and still ingests the others', async () => {
    const r = await ingest(
      [
        { name: 'missing', type: 'digest', path: join(dir, 'nope') },
        { name: 'one', type: 'digest', path: join(SEEDS, '002_80333a46690f23ed.txt') },
      ],
      opts(),
    );
    expect(r.new).toBeGreaterThan(0);
    expect(r.failedSources).toEqual([
      { source: 'missing', error: `${join(dir, 'nope')}: no such file or directory` },
    ]);
  });

  it('marks a source failing after repeated failures and backs off from it', async () => {
    let clock = new Date('2026-11-22T08:00:00Z');
    const missing: SourceSpec[] = [{ name: 'missing', type: 'digest', path: join(dir, 'nope') }];
    const o = opts({ now: () => clock });
    const r1 = await ingest(missing, o);
    expect(r1.sources[0]).toMatchObject({ status: 'failed', consecutiveFailures: 1 });
    expect(r1.sources[0]?.failingSince).toBeUndefined();
    const r2 = await ingest(missing, o);
    expect(r2.sources[0]).toMatchObject({
      status: 'failed',
      consecutiveFailures: 2,
      failingSince: clock.toISOString(),
    });
    const r3 = await ingest(missing, o);
    expect(r3.sources[0]?.status).toBe('backing-off');
    expect(r3.failedSources[0]?.error).toMatch(
      /failing since 2026-11-22T08:00:00.000Z \(2 failures in a row\), next attempt after 2026-11-22T08:30:00.000Z: .*no such file/,
    );
    clock = new Date('2026-11-22T08:31:00Z');
    const r4 = await ingest(missing, o);
    expect(r4.sources[0]).toMatchObject({ status: 'failed', consecutiveFailures: 3 });
    const state = await store.sources.get('missing');
    expect(state?.nextAttemptAt).toBe('2026-11-22T09:31:00.000Z');
  });
});

describe('identity across sources', () => {
  it('never counts a digest paper as new again when it arrives from arXiv with an id, in any batch size', async () => {
    const title = 'Learning to Branch for Multi-Task Learning';
    const abstract =
      'Training multiple tasks jointly in one deep network yields reduced latency during inference.';
    const now = '2026-11-22T00:00:00.000Z';
    const digest = { title, abstract, authors: [], categories: [], links: { code: [] } };
    const arxiv = {
      ...digest,
      title: 'Learning to branch for multi-task learning',
      arxivId: '2006.01895',
      version: 1,
      authors: ['Pengsheng Guo'],
    };
    const c1 = await mergeSightings(store, [digest], 'seeds', now, { batchSize: 1000 });
    const c2 = await mergeSightings(store, [arxiv, { ...arxiv, version: 2 }], 'arxiv', now, { batchSize: 1 });
    expect(c1.new).toBe(1);
    expect(c2).toMatchObject({ new: 0, updated: 1, duplicates: 1 });
    const resolved = await store.papers.resolve([arxivKey('2006.01895'), fingerprintKey(title)]);
    expect(new Set(resolved.values()).size).toBe(1);
    const paper = [...(await store.papers.getMany([...resolved.values()])).values()][0];
    expect(paper).toMatchObject({
      arxivId: '2006.01895',
      version: 2,
      sources: ['seeds', 'arxiv'],
      authors: ['Pengsheng Guo'],
    });
  });
});
