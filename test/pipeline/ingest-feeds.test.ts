import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestReport, ingest, type SourceSpec } from '../../src/pipeline/ingest.js';
import { createFetcher, type Fetcher } from '../../src/sources/http.js';
import { openStore } from '../../src/store/keyv-store.js';
import type { Store } from '../../src/store/types.js';
import { startServer, type TestServer } from '../helpers/http-server.js';

const FEEDS = join(import.meta.dirname, '../fixtures/feeds');
const fixture = (name: string) => readFileSync(join(FEEDS, name));

let server: TestServer;
let store: Store;
let fetcher: Fetcher;
let first: IngestReport;
let second: IngestReport;

const MB = 1024 * 1024;

beforeAll(async () => {
  server = await startServer({
    '/rss/cs.LG': (req, res) => {
      if (req.headers['if-none-match'] === '"cs-lg-1"')
        return void res.writeHead(304, { etag: '"cs-lg-1"' }).end();
      res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', etag: '"cs-lg-1"' });
      res.end(fixture('arxiv-rss2-cs.xml'));
    },
    '/api/daily_papers?date=2024-11-27': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(fixture('hf-daily-papers.json'));
    },
    '/latin1': (_req, res) => {
      // No charset in the header: the XML prolog says ISO-8859-1.
      res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('generic-rss-latin1.xml'));
    },
    '/rss/cs.XX': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('arxiv-rss-error.xml'));
    },
    '/rss/weekend': (_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/rss+xml' })
        .end(fixture('arxiv-rss-empty-weekend.xml'));
    },
    '/broken': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' }).end(fixture('invalid.xml'));
    },
    '/500': (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    },
    '/hang': () => {
      // Never answers: the fetcher's header timeout must end it.
    },
    '/huge': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      const chunk = Buffer.alloc(MB, 'a');
      let sent = 0;
      const pump = () => {
        while (sent < 50 && res.write(chunk)) sent++;
        if (sent >= 50) res.end();
        else res.once('drain', pump);
      };
      res.on('close', () => {
        sent = 50;
      });
      pump();
    },
  });
  store = await openStore(`sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-feeds-')), 'store.sqlite')}`);
  fetcher = createFetcher({
    userAgent: 'paperboy/test (+mailto:test@example.org)',
    headersTimeoutMs: 400,
    bodyTimeoutMs: 400,
    retries: 1,
    backoffBaseMs: 5,
    backoffMaxMs: 10,
    perHostIntervalMs: 0,
    maxBodyBytes: 20 * MB,
  });
  const sources: SourceSpec[] = [
    { name: 'arxiv-cs-lg', type: 'feed', url: `${server.url}/rss/cs.LG` },
    { name: 'hf-daily', type: 'feed', url: `${server.url}/api/daily_papers?date=2024-11-27` },
    { name: 'revista', type: 'feed', url: `${server.url}/latin1` },
    { name: 'arxiv-bad-query', type: 'feed', url: `${server.url}/rss/cs.XX` },
    { name: 'arxiv-weekend', type: 'feed', url: `${server.url}/rss/weekend` },
    { name: 'broken', type: 'feed', url: `${server.url}/broken` },
    { name: 'flaky', type: 'feed', url: `${server.url}/500` },
    { name: 'slow', type: 'feed', url: `${server.url}/hang` },
    { name: 'huge', type: 'feed', url: `${server.url}/huge` },
  ];
  const opts = {
    store,
    fetcher,
    failingAfter: 3,
    failingBackoffMinutes: 30,
    failingBackoffMaxMinutes: 60,
    concurrency: 4,
  };
  first = await ingest(sources, opts);
  second = await ingest(sources, opts);
}, 30_000);

afterAll(async () => {
  await fetcher?.close();
  await store?.close();
  await server?.close();
});

const status = (r: IngestReport, name: string) => r.sources.find((s) => s.source === name);
const errorOf = (r: IngestReport, name: string) => r.failedSources.find((f) => f.source === name)?.error;

describe('one ingest pass over good and bad feeds', () => {
  it('ingests the good feeds: arXiv RSS, the HF JSON naming the same papers, and a Latin-1 feed', () => {
    expect(status(first, 'arxiv-cs-lg')).toMatchObject({ status: 'ok', parsed: 4 });
    expect(status(first, 'hf-daily')).toMatchObject({ status: 'ok', parsed: 2 });
    expect(status(first, 'revista')).toMatchObject({ status: 'ok', parsed: 1, new: 1 });
    // The HF papers are the arXiv ones: 4 + 1 new in all, whichever source was merged first.
    expect(first.new).toBe(5);
  });

  it('decodes the Latin-1 feed from its XML prolog', async () => {
    const titles: string[] = [];
    const authors: string[] = [];
    for await (const p of store.papers.iterate()) {
      titles.push(p.title);
      authors.push(...p.authors);
    }
    expect(titles).toContain('Über die Schätzung von Fehlern bei spärlichen Matrizen');
    expect(authors).toEqual(expect.arrayContaining(['José Müller', 'Françoise Løvaas']));
  });

  it('calls an empty arXiv feed on a weekend "no announcement", not a failure', () => {
    expect(status(first, 'arxiv-weekend')).toMatchObject({ status: 'no-announcement', parsed: 0 });
    expect(errorOf(first, 'arxiv-weekend')).toBeUndefined();
  });

  it.each([
    ['arxiv-bad-query', /Feed error for query/i],
    ['broken', /not a feed|invalid XML/i],
    ['flaky', /HTTP 500.* after 2 attempts/],
    ['slow', /timed out|timeout/i],
    ['huge', /exceeds 20 MB|too large|20 MB/i],
  ])('reports %s with a clear reason', (name, reason) => {
    expect(status(first, name)?.status).toBe('failed');
    expect(errorOf(first, name)).toMatch(reason);
  });

  it('sends the ETag back and takes the 304 as "not modified" on the next pass', () => {
    const asks = server.requests.filter((r) => r.path === '/rss/cs.LG');
    expect(asks).toHaveLength(2);
    expect(asks[1]?.headers['if-none-match']).toBe('"cs-lg-1"');
    expect(status(second, 'arxiv-cs-lg')).toMatchObject({ status: 'not-modified', parsed: 0 });
    expect(second.new).toBe(0);
  });

  it('identifies itself with the configured User-Agent', () => {
    expect(
      server.requests.every((r) => r.headers['user-agent'] === 'paperboy/test (+mailto:test@example.org)'),
    ).toBe(true);
  });

  it('counts consecutive failures per source', async () => {
    expect(status(second, 'flaky')).toMatchObject({ status: 'failed', consecutiveFailures: 2 });
    expect((await store.sources.get('flaky'))?.lastError).toMatch(/HTTP 500/);
    expect((await store.sources.get('arxiv-cs-lg'))?.consecutiveFailures).toBe(0);
  });
});

describe('a stop while a feed downloads', () => {
  it('gives the fetch up and leaves the source as it was: not failing, read again next time', async () => {
    const own = createFetcher({ userAgent: 'paperboy/test', headersTimeoutMs: 30_000, perHostIntervalMs: 0 });
    const stop = new AbortController();
    const spec: SourceSpec = { name: 'stopped-mid-fetch', type: 'feed', url: `${server.url}/hang` };
    const before = (await store.sources.getAll()).get(spec.name);
    const pass = ingest([spec], {
      store,
      fetcher: own,
      failingAfter: 1,
      failingBackoffMinutes: 30,
      failingBackoffMaxMinutes: 60,
      concurrency: 1,
      signal: stop.signal,
    });
    await new Promise((r) => setTimeout(r, 200));
    // As the service stops: ingest told, then the fetcher closed.
    const started = performance.now();
    stop.abort();
    await own.close();
    const report = await pass;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(report.sources[0]).toMatchObject({ source: spec.name, status: 'stopped' });
    expect(report.failedSources).toEqual([]);
    expect((await store.sources.getAll()).get(spec.name)).toEqual(before);
  });
});
