import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { Agent, buildConnector } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createFetcher,
  type FeedFetchError,
  type FetchOutcome,
  type HttpOptions,
  parseRetryAfter,
} from '../../src/sources/http.js';
import { freePort } from '../helpers/http-server.js';

const MB = 1024 * 1024;
const FEED = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>';

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  /** performance.now() when the server saw the request. */
  at: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => unknown;

interface TestServer {
  url(path?: string): string;
  hits: Hit[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const fetchers: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(fetchers.splice(0).map((f) => f.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(handler: Handler): Promise<TestServer> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    hits.push({ path: req.url ?? '', headers: req.headers, at: performance.now() });
    void handler(req, res, hits.length - 1);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: (path = '/feed') => `http://127.0.0.1:${port}${path}`,
    hits,
    async close() {
      // Hanging handlers keep their sockets open; cut them so close() returns.
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  servers.push(s);
  return s;
}

/** A clock that moves only when slept on, recording every requested delay. */
function fakeClock(start = 0) {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

/** A fetcher on a fake clock with no per-host spacing, so only backoff and Retry-After sleep. */
function testFetcher(opts: Partial<HttpOptions> & Parameters<typeof createFetcher>[0] = {}) {
  const clock = fakeClock();
  const fetcher = createFetcher({
    userAgent: 'paperboy-test/1.0 (+mailto:ops@example.org)',
    perHostIntervalMs: 0,
    random: () => 0.5,
    now: clock.now,
    sleep: clock.sleep,
    ...opts,
  });
  fetchers.push(fetcher);
  return { fetcher, sleeps: clock.sleeps };
}

async function failure(p: Promise<FetchOutcome>): Promise<FeedFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: 'FeedFetchError' });
  return err as FeedFetchError;
}

function text(outcome: FetchOutcome): string {
  if (outcome.status !== 'ok') throw new Error(`expected ok, got ${outcome.status}`);
  return Buffer.from(outcome.body).toString('utf8');
}

/** Writes `total` bytes of `chunk` with backpressure, stopping when the client goes away. */
async function streamChunks(res: ServerResponse, chunk: Buffer, total: number): Promise<number> {
  let written = 0;
  while (written < total && !res.destroyed) {
    written += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!res.destroyed) res.end();
  return written;
}

describe('conditional GET', () => {
  it('returns the ETag from a 200 and sends it back as If-None-Match, getting not-modified', async () => {
    const server = await startServer((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"' }).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/rss+xml', etag: '"v1"' }).end(FEED);
      }
    });
    const { fetcher } = testFetcher();

    const first = await fetcher.fetch(server.url());
    expect(first).toMatchObject({
      status: 'ok',
      httpStatus: 200,
      contentType: 'application/rss+xml',
      validators: { etag: '"v1"' },
      attempts: 1,
    });
    expect(text(first)).toBe(FEED);
    expect(server.hits[0]?.headers['if-none-match']).toBeUndefined();

    const second = await fetcher.fetch(server.url(), first.validators);
    expect(second).toEqual({
      status: 'not-modified',
      url: server.url(),
      finalUrl: server.url(),
      validators: { etag: '"v1"' },
      attempts: 1,
    });
    expect(server.hits[1]?.headers['if-none-match']).toBe('"v1"');
  });

  it('round-trips Last-Modified as If-Modified-Since', async () => {
    const stamp = 'Tue, 01 Jul 2025 12:00:00 GMT';
    const server = await startServer((req, res) => {
      if (req.headers['if-modified-since'] === stamp) res.writeHead(304).end();
      else res.writeHead(200, { 'last-modified': stamp }).end(FEED);
    });
    const { fetcher } = testFetcher();

    const first = await fetcher.fetch(server.url());
    expect(first.validators).toEqual({ lastModified: stamp });
    const second = await fetcher.fetch(server.url(), first.validators);
    expect(second.status).toBe('not-modified');
    // A 304 without validators keeps the ones that produced it.
    expect(second.validators).toEqual({ lastModified: stamp });
    expect(server.hits[1]?.headers['if-modified-since']).toBe(stamp);
  });
});

describe('request headers', () => {
  it('sends the User-Agent, a feed-friendly Accept and the encodings it can decode', async () => {
    const server = await startServer((_req, res) => res.end(FEED));
    const { fetcher } = testFetcher();
    await fetcher.fetch(server.url());
    const headers = server.hits[0]?.headers;
    expect(headers?.['user-agent']).toBe('paperboy-test/1.0 (+mailto:ops@example.org)');
    expect(headers?.accept).toMatch(/application\/atom\+xml.*application\/rss\+xml.*application\/json/);
    expect(headers?.['accept-encoding']).toBe('gzip, deflate, br');
  });
});

describe('retries', () => {
  it('retries a 500 and succeeds on the second attempt', async () => {
    const server = await startServer((_req, res, n) => {
      if (n === 0) res.writeHead(500).end('oops');
      else res.end(FEED);
    });
    const { fetcher, sleeps } = testFetcher({ backoffBaseMs: 1000 });
    const outcome = await fetcher.fetch(server.url());
    expect(outcome).toMatchObject({ status: 'ok', attempts: 2 });
    expect(server.hits).toHaveLength(2);
    expect(sleeps).toEqual([500]);
  });

  it('gives up after retries + 1 attempts on a persistent 500, backing off exponentially', async () => {
    const server = await startServer((_req, res) => res.writeHead(500).end());
    const { fetcher, sleeps } = testFetcher({ retries: 3, backoffBaseMs: 1000 });
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'http', status: 500, attempts: 4, url: server.url() });
    expect(err.message).toBe(`GET ${server.url()} failed: HTTP 500 Internal Server Error after 4 attempts`);
    expect(server.hits).toHaveLength(4);
    // Full jitter with random() = 0.5: half of 1 s, 2 s, 4 s.
    expect(sleeps).toEqual([500, 1000, 2000]);
  });

  it('caps the backoff ceiling at backoffMaxMs', async () => {
    const server = await startServer((_req, res) => res.writeHead(502).end());
    const { fetcher, sleeps } = testFetcher({ retries: 4, backoffBaseMs: 1000, backoffMaxMs: 3000 });
    await failure(fetcher.fetch(server.url()));
    expect(sleeps).toEqual([500, 1000, 1500, 1500]);
  });

  it('honours Retry-After in seconds on a 503', async () => {
    const server = await startServer((_req, res, n) => {
      if (n === 0) res.writeHead(503, { 'retry-after': '2' }).end();
      else res.end(FEED);
    });
    const { fetcher, sleeps } = testFetcher();
    expect(await fetcher.fetch(server.url())).toMatchObject({ status: 'ok', attempts: 2 });
    expect(sleeps).toEqual([2000]);
  });

  it('honours Retry-After as an HTTP-date on a 429', async () => {
    const server = await startServer((_req, res, n) => {
      if (n === 0) res.writeHead(429, { 'retry-after': 'Tue, 01 Jul 2025 12:00:07 GMT' }).end();
      else res.end(FEED);
    });
    const clock = fakeClock(Date.parse('Tue, 01 Jul 2025 12:00:00 GMT'));
    const { fetcher } = testFetcher({ now: clock.now, sleep: clock.sleep });
    expect(await fetcher.fetch(server.url())).toMatchObject({ status: 'ok', attempts: 2 });
    expect(clock.sleeps).toEqual([7000]);
  });

  it('fails at once when Retry-After asks for longer than maxRetryAfterMs', async () => {
    const server = await startServer((_req, res) => res.writeHead(503, { 'retry-after': '3600' }).end());
    const { fetcher, sleeps } = testFetcher({ maxRetryAfterMs: 120_000 });
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'retry-after-too-long', status: 503, attempts: 1 });
    expect(err.message).toBe(
      `GET ${server.url()} failed: HTTP 503 Service Unavailable, Retry-After 3600 s exceeds the 120 s limit after 1 attempt`,
    );
    expect(server.hits).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it.each([404, 403, 410])('does not retry a %i', async (status) => {
    const server = await startServer((_req, res) => res.writeHead(status).end('no'));
    const { fetcher, sleeps } = testFetcher();
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'http', status, attempts: 1 });
    expect(err.message).toMatch(new RegExp(`failed: HTTP ${status} [A-Z][a-z]+.* after 1 attempt$`));
    expect(server.hits).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('reports a refused connection as a network error after all retries', async () => {
    const port = await freePort();
    const { fetcher, sleeps } = testFetcher({ retries: 2 });
    const url = `http://127.0.0.1:${port}/feed`;
    const err = await failure(fetcher.fetch(url));
    expect(err).toMatchObject({ reason: 'network', status: undefined, attempts: 3, url });
    expect(err.message).toMatch(
      /^GET http:\/\/127\.0\.0\.1:\d+\/feed failed: network error \(ECONNREFUSED.*after 3 attempts$/,
    );
    expect(sleeps).toHaveLength(2);
  });
});

describe('timeouts', () => {
  // undici runs headers/body timers on a coarse clock (about half a second per tick), so a 150 ms
  // timeout fires within roughly a second: bounded, which is what matters.
  it('times out a server that never sends headers, within bounded time', async () => {
    const server = await startServer(() => {
      // Never answer.
    });
    const { fetcher } = testFetcher({ headersTimeoutMs: 150, retries: 0 });
    const started = performance.now();
    const err = await failure(fetcher.fetch(server.url()));
    const elapsed = performance.now() - started;
    expect(err).toMatchObject({ reason: 'timeout', status: undefined, attempts: 1 });
    expect(err.message).toBe(
      `GET ${server.url()} failed: timed out waiting for headers after 150 ms after 1 attempt`,
    );
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(3000);
  });

  it('retries after a body stalls mid-stream', async () => {
    const server = await startServer((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      if (n === 0) res.write(FEED.slice(0, 20));
      else res.end(FEED);
    });
    const { fetcher, sleeps } = testFetcher({ bodyTimeoutMs: 150 });
    const outcome = await fetcher.fetch(server.url());
    expect(text(outcome)).toBe(FEED);
    expect(outcome.attempts).toBe(2);
    expect(sleeps).toHaveLength(1);
  });
});

describe('body size cap', () => {
  it('aborts a 50 MB stream past the 20 MB cap without reading much beyond it', async () => {
    const chunk = Buffer.alloc(MB, 0x61);
    let serverSide: Promise<{ written: number; finished: boolean }> | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      serverSide = (async () => {
        const closed = once(res, 'close');
        const written = await streamChunks(res, chunk, 50 * MB);
        await closed;
        return { written, finished: res.writableFinished };
      })();
    });
    // Count what actually arrives on the client's socket, through undici's public connector hook.
    let received = 0;
    const connect = buildConnector({});
    const agent = new Agent({
      connect: (options, callback) =>
        connect(options, (err, socket) => {
          socket?.on('data', (data: Buffer) => {
            received += data.length;
          });
          if (err) callback(err, null);
          else if (socket) callback(null, socket);
        }),
    });
    const { fetcher } = testFetcher({ dispatcher: agent, maxBodyBytes: 20 * MB });

    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'too-large', status: 200, attempts: 1 });
    expect(err.message).toBe(`GET ${server.url()} failed: body exceeds 20 MB limit after 1 attempt`);
    expect(received).toBeGreaterThan(20 * MB);
    expect(received).toBeLessThanOrEqual(20 * MB + chunk.length);
    const seen = await serverSide;
    expect(seen?.finished).toBe(false);
    expect(seen?.written).toBeLessThan(50 * MB);
    await agent.close();
  });

  it('refuses a body whose Content-Length is over the cap before reading it', async () => {
    let closedEarly: Promise<boolean> | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(50 * MB) });
      res.write(Buffer.alloc(64 * 1024));
      closedEarly = once(res, 'close').then(() => !res.writableFinished);
    });
    const { fetcher } = testFetcher({ maxBodyBytes: 20 * MB });
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'too-large', status: 200 });
    expect(err.message).toMatch(/body of 50 MB \(Content-Length\) exceeds 20 MB limit/);
    expect(await closedEarly).toBe(true);
  });
});

describe('compression', () => {
  const body = Buffer.from(FEED.repeat(50));

  it.each([
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['deflate', deflateRawSync(body)],
    ['br', brotliCompressSync(body)],
    ['gzip, br', brotliCompressSync(gzipSync(body))],
  ])('decodes Content-Encoding: %s', async (encoding, encoded) => {
    const server = await startServer((_req, res) =>
      res.writeHead(200, { 'content-encoding': encoding }).end(encoded),
    );
    const { fetcher } = testFetcher();
    expect(text(await fetcher.fetch(server.url()))).toBe(body.toString());
  });

  describe('a gzip bomb', () => {
    let bomb: Buffer;
    beforeAll(async () => {
      // 64 MB of zeros, compressed on the fly so the test never holds the inflated form.
      const gz = createGzip({ level: 9 });
      const parts: Buffer[] = [];
      gz.on('data', (p: Buffer) => parts.push(p));
      const zeros = Buffer.alloc(MB);
      for (let i = 0; i < 64; i++) gz.write(zeros);
      gz.end();
      await once(gz, 'end');
      bomb = Buffer.concat(parts);
    });

    it('is cut off at the cap on decompressed bytes', async () => {
      expect(bomb.length).toBeLessThan(MB);
      const server = await startServer((_req, res) =>
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(bomb),
      );
      const { fetcher } = testFetcher({ maxBodyBytes: 4 * MB });
      const err = await failure(fetcher.fetch(server.url()));
      expect(err).toMatchObject({ reason: 'too-large', status: 200, attempts: 1 });
      expect(err.message).toMatch(/decompressed body exceeds 4 MB limit/);
    });
  });

  it('reports a corrupt gzip body without retrying', async () => {
    const server = await startServer((_req, res) =>
      res.writeHead(200, { 'content-encoding': 'gzip' }).end('definitely not gzip'),
    );
    const { fetcher } = testFetcher();
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'bad-response', attempts: 1 });
    expect(server.hits).toHaveLength(1);
  });

  it('reports an encoding it cannot decode', async () => {
    const server = await startServer((_req, res) =>
      res.writeHead(200, { 'content-encoding': 'zstd' }).end('x'),
    );
    const { fetcher } = testFetcher();
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'bad-response' });
    expect(err.message).toMatch(/unsupported Content-Encoding "zstd"/);
  });
});

describe('redirects', () => {
  it('follows a chain of redirects, relative ones included', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/old') res.writeHead(301, { location: '/older' }).end();
      else if (req.url === '/older') res.writeHead(302, { location: server.url('/new') }).end();
      else if (req.url === '/new') res.writeHead(308, { location: 'feed' }).end();
      else res.end(FEED);
    });
    const { fetcher } = testFetcher();
    const outcome = await fetcher.fetch(server.url('/old'));
    expect(outcome).toMatchObject({
      status: 'ok',
      url: server.url('/old'),
      finalUrl: server.url('/feed'),
      attempts: 1,
    });
    expect(server.hits.map((h) => h.path)).toEqual(['/old', '/older', '/new', '/feed']);
  });

  it('gives up after 5 redirects', async () => {
    const server = await startServer((_req, res, n) => res.writeHead(302, { location: `/r${n}` }).end());
    const { fetcher } = testFetcher();
    const err = await failure(fetcher.fetch(server.url('/start')));
    expect(err).toMatchObject({ reason: 'too-many-redirects', status: 302 });
    expect(server.hits).toHaveLength(6);
  });

  it('refuses to follow a redirect away from http(s)', async () => {
    const server = await startServer((_req, res) =>
      res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
    );
    const { fetcher } = testFetcher();
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'invalid-url', status: 302 });
  });
});

describe('per-host politeness', () => {
  it('spaces concurrent requests to one host by perHostIntervalMs', async () => {
    const server = await startServer((_req, res) => res.end(FEED));
    const fetcher = createFetcher({ perHostIntervalMs: 300 });
    fetchers.push(fetcher);
    await Promise.all([1, 2, 3].map(() => fetcher.fetch(server.url())));
    const at = server.hits.map((h) => h.at);
    expect(at).toHaveLength(3);
    // The limiter guarantees the client-side starts are ≥ 300 ms apart; the server shares this
    // process's event loop, so allow a few ms of scheduling jitter on its receive timestamps.
    expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(295);
    expect((at[2] ?? 0) - (at[1] ?? 0)).toBeGreaterThanOrEqual(295);
  });

  it('counts retries as requests to the host', async () => {
    const server = await startServer((_req, res, n) => {
      if (n === 0) res.writeHead(500).end();
      else res.end(FEED);
    });
    const { fetcher, sleeps } = testFetcher({ perHostIntervalMs: 300, backoffBaseMs: 100 });
    expect(await fetcher.fetch(server.url())).toMatchObject({ status: 'ok', attempts: 2 });
    // 50 ms of backoff, then the rest of the host's 300 ms interval.
    expect(sleeps).toEqual([50, 250]);
  });

  it('does not make different hosts wait for each other', async () => {
    const a = await startServer((_req, res) => res.end(FEED));
    const b = await startServer((_req, res) => res.end(FEED));
    const fetcher = createFetcher({ perHostIntervalMs: 5_000 });
    fetchers.push(fetcher);
    const started = performance.now();
    await Promise.all([fetcher.fetch(a.url()), fetcher.fetch(b.url())]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('lifecycle', () => {
  it('fails without retrying once closed', async () => {
    const server = await startServer((_req, res) => res.end(FEED));
    const { fetcher, sleeps } = testFetcher();
    await fetcher.close();
    const err = await failure(fetcher.fetch(server.url()));
    expect(err).toMatchObject({ reason: 'network', attempts: 1 });
    expect(err.message).toMatch(/the fetcher is closed/);
    expect(sleeps).toEqual([]);
    expect(server.hits).toHaveLength(0);
  });
});

describe('closing while a fetch is in flight', () => {
  /**
   * Starts a fetch from `handler`'s server on a fetcher with real timers (what is cut short is
   * the real waiting a stopping service would do), closes the fetcher once the server saw the
   * request, and returns how the fetch failed and how long it took after the close.
   */
  async function closeMidFetch(handler: Handler, opts: Partial<HttpOptions>) {
    const server = await startServer(handler);
    const fetcher = createFetcher({ userAgent: 'paperboy-test/1.0', perHostIntervalMs: 0, ...opts });
    fetchers.push(fetcher);
    const pending = failure(fetcher.fetch(server.url()));
    await expect.poll(() => server.hits.length).toBe(1);
    const started = performance.now();
    await fetcher.close();
    const err = await pending;
    return { err, ms: performance.now() - started, server };
  }

  it('aborts a request to a server that never answers, at once', async () => {
    // The server never answers.
    const { err, ms } = await closeMidFetch(() => undefined, { headersTimeoutMs: 30_000 });
    expect(ms).toBeLessThan(1_000);
    expect(err).toMatchObject({ reason: 'network', attempts: 1 });
    expect(err.message).toMatch(/the fetcher is closed/);
  });

  it('cuts a backoff wait short and makes no further attempt', async () => {
    const unavailable: Handler = (_req, res) => {
      res.writeHead(503, { 'retry-after': '30' });
      res.end();
    };
    const { err, ms, server } = await closeMidFetch(unavailable, { maxRetryAfterMs: 60_000 });
    expect(ms).toBeLessThan(1_000);
    expect(err.message).toMatch(/the fetcher is closed/);
    expect(server.hits).toHaveLength(1);
  });
});

describe('URLs', () => {
  it.each(['ftp://example.org/feed', 'file:///etc/passwd', 'not a url', ''])('rejects %j', async (url) => {
    const { fetcher } = testFetcher();
    const err = await failure(fetcher.fetch(url));
    expect(err).toMatchObject({ reason: 'invalid-url', attempts: 0, status: undefined });
    expect(err.message).toBe(`GET ${url} failed: not an http(s) URL`);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('Tue, 01 Jul 2025 12:00:00 GMT');
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Tue, 01 Jul 2025 12:01:00 GMT', 60_000],
    ['Tuesday, 01-Jul-25 12:00:30 GMT', 30_000],
    ['Tue Jul  1 12:00:45 2025', 45_000],
    ['Tue, 01 Jul 2025 11:00:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
    [undefined, undefined],
  ])('reads %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
