/**
 * A search window (`search.windowDays`): the index holds only papers first seen within it, is
 * filled again from the store once a day after a cycle, and nothing leaves the store.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.js';
import { ingest } from '../../src/pipeline/ingest.js';
import { compileQuery, PaperLibrary } from '../../src/pipeline/library.js';
import { startService } from '../../src/service.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';
import { captureLogs } from '../helpers/log-lines.js';

const seeds = join(import.meta.dirname, '../../seeds');

/** A store with the first seed digest ingested on Nov 1 and the second on Nov 20. */
async function twoDigests(): Promise<{ url: string; early: number; late: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'paperboy-window-'));
  const url = `sqlite://${join(dir, 'store.sqlite')}`;
  const store = await openStore(url);
  try {
    const at = async (file: string, when: string) =>
      (
        await ingest([{ name: file, type: 'digest', path: join(seeds, file) }], {
          ...parseConfig({}, {}).ingest,
          store,
          now: () => new Date(when),
        })
      ).new;
    const early = await at('000_11b81690870823e2.txt', '2026-11-01T08:00:00.000Z');
    const late = await at('001_fa158a471daef1c5.txt', '2026-11-20T08:00:00.000Z');
    return { url, early, late };
  } finally {
    await store.close();
  }
}

async function firstSeenOf(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const p of store.papers.iterate()) out.push(p.firstSeen);
  return out;
}

describe('the search window', () => {
  it('indexes only papers first seen within it, on the main thread and on its own', async () => {
    const { url, early, late } = await twoDigests();
    expect(early).toBeGreaterThan(0);
    expect(late).toBeGreaterThan(0);
    const store = await openStore(url);
    try {
      const now = () => new Date('2026-11-24T12:00:00.000Z');
      for (const searchThread of ['main', 'worker'] as const) {
        const all = await PaperLibrary.load(store, { searchThread, now });
        const recent = await PaperLibrary.load(store, { searchThread, windowDays: 10, now });
        try {
          expect(await all.count()).toBe(early + late);
          expect(await recent.count()).toBe(late);
          // Searches see the window only; the store keeps every paper.
          const hits = await recent.search(compileQuery('model'), { limit: 1000 });
          const seen = new Map((await recent.papers(hits.hits.map((h) => h.paperId))).map((p) => [p.id, p]));
          expect(hits.total).toBeGreaterThan(0);
          for (const p of seen.values()) expect(p.firstSeen).toBe('2026-11-20T08:00:00.000Z');
          expect((await all.search(compileQuery('model'), { limit: 1000 })).total).toBeGreaterThan(
            hits.total,
          );
        } finally {
          await all.close();
          await recent.close();
        }
      }
      expect((await firstSeenOf(store)).length).toBe(early + late);
    } finally {
      await store.close();
    }
  });

  it('answers a search sent while the thread is being refilled', async () => {
    const { url, early, late } = await twoDigests();
    const store = await openStore(url);
    let clock = new Date('2026-11-24T12:00:00.000Z');
    const library = await PaperLibrary.load(store, {
      searchThread: 'worker',
      windowDays: 30,
      now: () => clock,
    });
    try {
      expect(await library.count()).toBe(early + late);
      clock = new Date('2026-12-05T12:00:00.000Z');
      // Asked as the refresh starts, and once the old thread may have been sent it.
      const before = library.search(compileQuery('model'), { limit: 5 });
      await library.refresh();
      const sent = library.search(compileQuery('model'), { limit: 5 });
      await new Promise(setImmediate);
      await library.refresh();
      for (const r of await Promise.all([before, sent])) expect(r.hits.length).toBeGreaterThan(0);
      // Nov 1 is 34 days before Dec 5: the first digest's papers have left the window.
      expect(await library.count()).toBe(late);
    } finally {
      await library.close();
      await store.close();
    }
  });

  it('recovers from a refresh the store failed: what waited fails with the reason, the next call refills', async () => {
    const { url, early, late } = await twoDigests();
    const store = await openStore(url);
    // The real store, whose listing fails while `down`.
    let down = false;
    const flaky: Store = {
      ...store,
      papers: {
        ...store.papers,
        iterate: () =>
          down
            ? (async function* () {
                yield* [];
                throw new Error('the store went away');
              })()
            : store.papers.iterate(),
      },
    };
    const library = await PaperLibrary.load(flaky, { searchThread: 'worker' });
    try {
      expect(await library.count()).toBe(early + late);
      down = true;
      await expect(library.refresh()).rejects.toThrow('the store went away');
      await expect(library.search(compileQuery('model'), { limit: 5 })).rejects.toThrow(
        'the store went away',
      );
      down = false;
      expect((await library.search(compileQuery('model'), { limit: 5 })).hits.length).toBeGreaterThan(0);
      expect(await library.count()).toBe(early + late);
    } finally {
      await library.close();
      await store.close();
    }
  });

  it('is applied again by the service once a day after a cycle', async () => {
    const { url, late } = await twoDigests();
    const { lines, logger } = captureLogs();
    let clock = new Date('2026-11-24T12:00:00.000Z');
    const config = parseConfig(
      {
        store: { url },
        sources: [],
        schedule: { runAtStart: false },
        service: { port: 0 },
        search: { windowDays: 10 },
      },
      {},
    );
    const service = await startService({ config, version: 'test', logger, now: () => clock });
    const refreshed = () =>
      lines.filter((l) => l.includes('search index refreshed')).map((l) => JSON.parse(l).papers);
    try {
      expect(await service.library.count()).toBe(late);
      expect(await service.metrics.render()).toContain(`paperboy_search_index_papers ${late}`);
      // Within the day of the start: no refresh, though the late papers would still fit.
      clock = new Date('2026-11-25T11:00:00.000Z');
      await service.cycle();
      expect(refreshed()).toEqual([]);
      // Dec 1: the Nov 20 papers are 11 days old, out of a 10-day window.
      clock = new Date('2026-12-01T12:00:00.000Z');
      await service.cycle();
      expect(refreshed()).toEqual([0]);
      expect(await service.library.count()).toBe(0);
      expect(await service.metrics.render()).toMatch(/^paperboy_search_index_papers 0$/m);
      const store = service.store;
      expect((await firstSeenOf(store)).length).toBeGreaterThan(late);
    } finally {
      await service.stop('test end');
    }
  });

  it('must cover what previews and first digests look back over', () => {
    expect(() => parseConfig({ search: { windowDays: 3 } }, {})).toThrow(ConfigError);
    expect(() => parseConfig({ search: { windowDays: 3 } }, {})).toThrow(
      'search.windowDays: must be 0 (every paper) or at least 7: subscriptions.previewDays and backfillHours look back that far',
    );
    expect(() =>
      parseConfig({ search: { windowDays: 10 }, subscriptions: { backfillHours: 24 * 12 } }, {}),
    ).toThrow('at least 12');
    expect(parseConfig({ search: { windowDays: 7 } }, {}).search.windowDays).toBe(7);
    expect(parseConfig({}, {}).search.windowDays).toBe(0);
  });
});
