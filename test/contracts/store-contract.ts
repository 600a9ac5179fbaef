/**
 * The store contract: what every backend behind `openStore` must do, run once per backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Paper, PaperId } from '../../src/core/paper.js';
import type { SourceState, Store } from '../../src/store/types.js';

/** A paper with every field set, in several scripts, and strings Keyv's serializers treat specially. */
export function fullPaper(i: number): Paper {
  const id = `2411.${String(10000 + i)}`;
  return {
    id: `arxiv:${id}`,
    arxivId: id,
    version: 3,
    title: `Über-große Sprachmodelle ${i}: 大规模语言模型 — نماذج 🚀 "quoted" \\ back\u0301slash`,
    abstract: `:starts with a colon\nand has lines,\ttabs and :base64:AAAA inside. ${'Lorem ipsum '.repeat(40)}`,
    authors: ['Zoë Çelik', '李华', 'O’Brien, J.'],
    categories: ['cs.CL', 'cs.LG'],
    links: {
      abs: `https://arxiv.org/abs/${id}`,
      pdf: `https://arxiv.org/pdf/${id}`,
      hf: `https://huggingface.co/papers/${id}`,
      code: ['https://github.com/paperboy/ümlaut', 'https://example.org/project?x=1&y=2'],
    },
    published: '2024-11-26',
    sources: ['arxiv-cs.CL', 'hf-daily'],
    firstSeen: '2024-11-27T06:00:00.000Z',
    updatedAt: '2024-11-29T06:00:00.000Z',
    updates: [
      {
        at: '2024-11-28T06:00:00.000Z',
        source: 'arxiv-cs.CL',
        kind: 'version',
        fromVersion: 1,
        toVersion: 2,
      },
      { at: '2024-11-29T06:00:00.000Z', source: 'arxiv-cs.CL', kind: 'version+abstract', toVersion: 3 },
    ],
  };
}

/** A paper with only the required fields. */
export function minimalPaper(i: number): Paper {
  return {
    id: `fp:${i.toString(16).padStart(16, '0')}`,
    title: `A paper without an arXiv id ${i}`,
    abstract: '',
    authors: [],
    categories: [],
    links: { code: [] },
    sources: ['blog'],
    firstSeen: '2024-11-27T06:00:00.000Z',
  };
}

function aliasesOf(papers: readonly Paper[]): Map<string, PaperId> {
  const aliases = new Map<string, PaperId>();
  for (const p of papers) {
    aliases.set(p.id, p.id);
    aliases.set(`fp:title-${p.id}`, p.id);
  }
  return aliases;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/**
 * Registers the contract tests for one backend.
 *
 * @param open a store over fresh, empty storage (each call)
 * @param reopen the same storage as a closed store, by its URL; omitted for in-memory stores
 *   (the persistence test is skipped then)
 */
export function runStoreContract(
  name: string,
  open: () => Promise<Store>,
  reopen?: (url: string) => Promise<Store>,
): void {
  describe(`${name} store contract`, () => {
    const opened: Store[] = [];
    const fresh = async (): Promise<Store> => {
      const store = await open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('starts empty', async () => {
      const store = await fresh();
      expect(await store.papers.count()).toBe(0);
      expect(await store.papers.resolve(['arxiv:2411.10001', 'fp:0'])).toEqual(new Map());
      expect(await store.papers.getMany(['arxiv:2411.10001'])).toEqual(new Map());
      expect(await collect(store.papers.iterate())).toEqual([]);
      expect(await store.sources.get('arxiv-cs.CL')).toBeUndefined();
      expect(await store.sources.getAll()).toEqual(new Map());
    });

    it('answers empty batches without a round trip going wrong', async () => {
      const store = await fresh();
      await store.papers.putMany([], new Map());
      expect(await store.papers.resolve([])).toEqual(new Map());
      expect(await store.papers.getMany([])).toEqual(new Map());
    });

    it('returns every field of a paper as written, optional and unicode ones included', async () => {
      const store = await fresh();
      const papers = [fullPaper(1), minimalPaper(2)];
      await store.papers.putMany(papers, new Map());
      const got = await store.papers.getMany(papers.map((p) => p.id));
      expect(got.size).toBe(2);
      // toStrictEqual: no field gains an `undefined` or loses its type on the way through.
      expect(got.get(papers[0]?.id ?? '')).toStrictEqual(papers[0]);
      expect(got.get(papers[1]?.id ?? '')).toStrictEqual(papers[1]);
    });

    it('resolves the known alias keys of a mixed batch and leaves the unknown out', async () => {
      const store = await fresh();
      const papers = [fullPaper(1), fullPaper(2), minimalPaper(3)];
      await store.papers.putMany(papers, aliasesOf(papers));
      const resolved = await store.papers.resolve([
        'arxiv:2411.10001',
        'fp:unknown',
        'fp:title-arxiv:2411.10002',
        'arxiv:2411.10001',
        'arxiv:9999.99999',
        `fp:title-${papers[2]?.id}`,
      ]);
      expect(resolved).toEqual(
        new Map([
          ['arxiv:2411.10001', 'arxiv:2411.10001'],
          ['fp:title-arxiv:2411.10002', 'arxiv:2411.10002'],
          [`fp:title-${papers[2]?.id}`, papers[2]?.id],
        ]),
      );
    });

    it('returns the known papers of a mixed batch of ids', async () => {
      const store = await fresh();
      await store.papers.putMany([fullPaper(1), fullPaper(2)], new Map());
      const got = await store.papers.getMany(['arxiv:2411.10002', 'arxiv:0000.00000', 'fp:nothing']);
      expect([...got.keys()]).toEqual(['arxiv:2411.10002']);
      expect(got.get('arxiv:2411.10002')).toStrictEqual(fullPaper(2));
    });

    it('overwrites a paper and repoints an alias', async () => {
      const store = await fresh();
      const first = minimalPaper(1);
      await store.papers.putMany([first, minimalPaper(2)], new Map([['fp:shared', first.id]]));
      const updated: Paper = { ...first, version: 2, sources: ['blog', 'hf-daily'], updatedAt: '2024-12-01' };
      await store.papers.putMany([updated], new Map([['fp:shared', minimalPaper(2).id]]));
      expect((await store.papers.getMany([first.id])).get(first.id)).toStrictEqual(updated);
      expect(await store.papers.resolve(['fp:shared'])).toEqual(new Map([['fp:shared', minimalPaper(2).id]]));
      expect(await store.papers.count()).toBe(2);
    });

    it('keeps the last of several papers with the same id in one batch', async () => {
      const store = await fresh();
      const a = minimalPaper(1);
      const b: Paper = { ...a, title: 'second title' };
      await store.papers.putMany([a, b], new Map());
      expect((await store.papers.getMany([a.id])).get(a.id)?.title).toBe('second title');
      expect(await store.papers.count()).toBe(1);
    });

    it('writes and reads 2500 papers and 5000 aliases across batch boundaries', async () => {
      const store = await fresh();
      const papers = Array.from({ length: 2500 }, (_, i) => (i % 3 === 0 ? minimalPaper(i) : fullPaper(i)));
      const aliases = aliasesOf(papers);
      await store.papers.putMany(papers, aliases);
      expect(await store.papers.count()).toBe(2500);
      const ids = [...papers.map((p) => p.id), 'arxiv:0000.00000'];
      const got = await store.papers.getMany(ids);
      expect(got.size).toBe(2500);
      for (const p of papers) expect(got.get(p.id)).toStrictEqual(p);
      const resolved = await store.papers.resolve([...aliases.keys(), 'fp:unknown']);
      expect(resolved).toEqual(aliases);
    });

    it('iterates over exactly the stored papers, each once', async () => {
      const store = await fresh();
      const papers = Array.from({ length: 1234 }, (_, i) => (i % 2 ? fullPaper(i) : minimalPaper(i)));
      await store.papers.putMany(papers, aliasesOf(papers));
      await store.sources.set('arxiv-cs.CL', { consecutiveFailures: 0 });
      const seen = await collect(store.papers.iterate());
      expect(seen).toHaveLength(papers.length);
      const byId = new Map(seen.map((p) => [p.id, p]));
      expect(byId.size).toBe(papers.length);
      for (const p of papers) expect(byId.get(p.id)).toStrictEqual(p);
    });

    it('keeps papers, aliases and source state apart', async () => {
      const store = await fresh();
      const paper = minimalPaper(1);
      // An alias key that is nobody's paper id, a source named like a paper id and like a namespace.
      await store.papers.putMany([paper], new Map([['arxiv:2411.99999', paper.id]]));
      await store.sources.set('arxiv:2411.99999', { consecutiveFailures: 1 });
      await store.sources.set('papers:x', { consecutiveFailures: 2 });
      expect(await store.papers.getMany(['arxiv:2411.99999'])).toEqual(new Map());
      expect(await store.papers.resolve([paper.id])).toEqual(new Map());
      expect(await store.papers.count()).toBe(1);
      expect((await collect(store.papers.iterate())).map((p) => p.id)).toEqual([paper.id]);
      expect([...(await store.sources.getAll()).keys()].sort()).toEqual(['arxiv:2411.99999', 'papers:x']);
    });

    it('gets, sets and lists source state under any name', async () => {
      const store = await fresh();
      const failing: SourceState = {
        etag: 'W/"abc"',
        lastModified: 'Tue, 26 Nov 2024 00:00:00 GMT',
        fileHashes: { 'digests/2024-11-26.txt': 'e3b0c442', 'ünï code.md': 'ff' },
        consecutiveFailures: 4,
        lastError: 'GET https://example.org failed (503)',
        lastErrorAt: '2024-11-27T06:00:00.000Z',
        lastSuccessAt: '2024-11-20T06:00:00.000Z',
        failingSince: '2024-11-26T06:00:00.000Z',
        nextAttemptAt: '2024-11-27T07:00:00.000Z',
        newestEntryAt: '2024-11-19T00:00:00.000Z',
      };
      const names = ['arxiv-cs.CL', 'sources:tricky', 'a:b:c', 'Ünïcode / spaced name', '%41'];
      for (const [i, name] of names.entries()) await store.sources.set(name, { consecutiveFailures: i });
      await store.sources.set('arxiv-cs.CL', failing);
      expect(await store.sources.get('arxiv-cs.CL')).toStrictEqual(failing);
      expect(await store.sources.get('%41')).toStrictEqual({ consecutiveFailures: 4 });
      expect(await store.sources.get('A')).toBeUndefined();
      const all = await store.sources.getAll();
      expect(new Set(all.keys())).toEqual(new Set(names));
      expect(all.get('a:b:c')).toStrictEqual({ consecutiveFailures: 2 });
      expect(all.get('arxiv-cs.CL')).toStrictEqual(failing);
    });

    it('pings an open store', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('closes cleanly, twice', async () => {
      const store = await fresh();
      await store.papers.putMany([minimalPaper(1)], new Map());
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it.skipIf(reopen === undefined)('keeps everything after close and reopen', async () => {
      const store = await fresh();
      const papers = [fullPaper(1), minimalPaper(2)];
      await store.papers.putMany(papers, aliasesOf(papers));
      await store.sources.set('arxiv-cs.CL', { consecutiveFailures: 0, etag: '"x"' });
      await store.close();
      const again = await (reopen as (url: string) => Promise<Store>)(store.url);
      opened.push(again);
      expect(await again.papers.count()).toBe(2);
      expect(await again.papers.getMany(papers.map((p) => p.id))).toEqual(
        new Map(papers.map((p) => [p.id, p])),
      );
      expect(await again.papers.resolve([...aliasesOf(papers).keys()])).toEqual(aliasesOf(papers));
      expect(await again.sources.getAll()).toEqual(
        new Map([['arxiv-cs.CL', { consecutiveFailures: 0, etag: '"x"' }]]),
      );
    });
  });
}
