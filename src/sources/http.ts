/**
 * The one way paperboy talks HTTP to feed servers. Polite: an honest User-Agent, conditional GET,
 * and at most one request per host per interval (arXiv's rule), retries and redirect hops included.
 * Bounded: connect/headers/body timeouts and a byte cap that also applies after decompression, so
 * neither a stalled server nor a gzip bomb can hold a cycle hostage. Patient: retries with
 * exponential backoff and full jitter, and Retry-After honoured up to a limit.
 */
import { STATUS_CODES } from 'node:http';
import { type Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { Agent, type Dispatcher, request } from 'undici';
import { sleepUnlessAborted } from '../core/abort.js';

/** Tuning for {@link createFetcher}; paperboy's config `http` section maps onto it one to one. */
export interface HttpOptions {
  /** Sent on every request; arXiv asks for a way to reach the operator, so include one. */
  userAgent: string;
  connectTimeoutMs: number;
  /** Time allowed from sending the request to receiving the complete response headers. */
  headersTimeoutMs: number;
  /** Longest idle gap allowed between two chunks of the body (not a limit on the total). */
  bodyTimeoutMs: number;
  /** The download is aborted as soon as the body, raw or decompressed, grows past this. */
  maxBodyBytes: number;
  /** Extra attempts after the first for network errors, timeouts, 5xx and 429. */
  retries: number;
  /** First backoff ceiling; it doubles each retry up to `backoffMaxMs` and the delay is uniform below it. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Minimum spacing between the starts of two requests to one host:port, across concurrent fetches. */
  perHostIntervalMs: number;
  /** A longer Retry-After fails the fetch at once, so one slow host cannot stall the whole cycle. */
  maxRetryAfterMs: number;
}

/** Defaults matching paperboy's config schema. The caller normally replaces `userAgent`. */
export const DEFAULT_HTTP_OPTIONS: Readonly<HttpOptions> = Object.freeze({
  userAgent: 'paperboy/0.1 (+https://github.com/paperboy-bot/paperboy)',
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  maxBodyBytes: 20 * 1024 * 1024,
  retries: 3,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  perHostIntervalMs: 3_000,
  maxRetryAfterMs: 120_000,
});

/** Cache validators from a previous response, sent back as If-None-Match / If-Modified-Since. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

/**
 * What a successful fetch produced. `url` is the URL asked for, `finalUrl` the one that answered
 * after redirects. `attempts` counts tries against the retry budget; redirect hops are not tries.
 */
export type FetchOutcome =
  | {
      status: 'ok';
      url: string;
      finalUrl: string;
      httpStatus: number;
      body: Uint8Array;
      contentType?: string;
      validators: Validators;
      attempts: number;
    }
  | { status: 'not-modified'; url: string; finalUrl: string; validators: Validators; attempts: number };

/**
 * Why a fetch failed. `http`: a status that is not worth retrying, or retries ran out on one that
 * was. `bad-response`: the server sent something we cannot decode (unknown Content-Encoding,
 * corrupt gzip) or a redirect without a Location.
 */
export type FeedFetchReason =
  | 'timeout'
  | 'too-large'
  | 'http'
  | 'network'
  | 'retry-after-too-long'
  | 'invalid-url'
  | 'too-many-redirects'
  | 'bad-response';

/** A fetch that gave up. Carries what a cycle report needs; never any request or response headers. */
export class FeedFetchError extends Error {
  override readonly name = 'FeedFetchError';
  /** The URL asked for (not the redirect target). */
  readonly url: string;
  /** The last HTTP status received, if the failure was an HTTP response. */
  readonly status: number | undefined;
  readonly reason: FeedFetchReason;
  /** Tries spent, as in {@link FetchOutcome}; 0 when the URL was rejected before any request. */
  readonly attempts: number;

  constructor(
    init: {
      url: string;
      status?: number | undefined;
      reason: FeedFetchReason;
      attempts: number;
      detail: string;
    },
    options?: ErrorOptions,
  ) {
    const tries =
      init.attempts === 0 ? '' : ` after ${init.attempts} attempt${init.attempts === 1 ? '' : 's'}`;
    super(`GET ${init.url} failed: ${init.detail}${tries}`, options);
    this.url = init.url;
    this.status = init.status;
    this.reason = init.reason;
    this.attempts = init.attempts;
  }
}

/** Fetches feeds politely; one per process, so the per-host spacing covers every source. */
export interface Fetcher {
  /**
   * Resolves with the body or `not-modified`. Whatever the URL, server or network did wrong rejects
   * with {@link FeedFetchError}; anything else is a bug in the caller or here, and is rethrown.
   */
  fetch(url: string, validators?: Validators): Promise<FetchOutcome>;
  /** Closes the connection pool it created (an injected dispatcher is left to its owner). Idempotent. */
  close(): Promise<void>;
}

/** Hooks for tests: a dispatcher of their own, and a clock, sleep and randomness they control. */
export interface FetcherDeps {
  /** Used instead of an own Agent; `connectTimeoutMs` is then the dispatcher's business. */
  dispatcher?: Dispatcher;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const ACCEPT =
  'application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, application/feed+json, ' +
  'application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1';

/**
 * Creates a {@link Fetcher}. Its per-host spacing is shared by every `fetch` on it, so create one
 * and hand it to all sources.
 */
export function createFetcher(opts: Partial<HttpOptions> & FetcherDeps = {}): Fetcher {
  const {
    dispatcher: injected,
    now = Date.now,
    sleep: injectedSleep,
    random = Math.random,
    ...overrides
  } = opts;
  // Closing ends what is in flight: requests are aborted and waits (spacing, backoff) cut short,
  // so a stopping service does not wait on a stalled server or a backoff of minutes.
  const closer = new AbortController();
  const sleep = (ms: number) => sleepUnlessAborted(ms, closer.signal, injectedSleep);
  const o: HttpOptions = { ...DEFAULT_HTTP_OPTIONS, ...overrides };
  const dispatcher =
    injected ??
    new Agent({
      connect: { timeout: o.connectTimeoutMs },
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
    });
  const limiter = createHostLimiter(o.perHostIntervalMs, now, sleep, closer.signal);

  async function fetchFeed(url: string, validators: Validators = {}): Promise<FetchOutcome> {
    let current = parseHttpUrl(url);
    if (current === undefined) {
      throw new FeedFetchError({ url, reason: 'invalid-url', attempts: 0, detail: 'not an http(s) URL' });
    }
    let failures = 0;
    let redirects = 0;
    for (;;) {
      await limiter.acquire(hostKey(current));
      const result = await attempt(current, validators);
      const where = current.href === url ? '' : ` (redirected to ${current.href})`;
      if (result.kind === 'ok')
        return { ...result.outcome, url, finalUrl: current.href, attempts: failures + 1 };
      if (result.kind === 'redirect') {
        const next = parseHttpUrl(result.location, current);
        if (++redirects > MAX_REDIRECTS || next === undefined) {
          throw new FeedFetchError({
            url,
            status: result.status,
            reason: next === undefined ? 'invalid-url' : 'too-many-redirects',
            attempts: failures + 1,
            detail:
              next === undefined
                ? `HTTP ${result.status} redirect to a non-http(s) URL${where}`
                : `more than ${MAX_REDIRECTS} redirects${where}`,
          });
        }
        current = next;
        continue;
      }
      failures++;
      const fail = (reason: FeedFetchReason, detail: string) =>
        new FeedFetchError(
          { url, status: result.status, reason, attempts: failures, detail: detail + where },
          result.cause === undefined ? undefined : { cause: result.cause },
        );
      if (!result.retryable || failures > o.retries) throw fail(result.reason, result.detail);
      let wait: number;
      if (result.retryAfterMs === undefined) {
        wait = Math.floor(random() * Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** (failures - 1)));
      } else {
        if (result.retryAfterMs > o.maxRetryAfterMs) {
          throw fail(
            'retry-after-too-long',
            `${result.detail}, Retry-After ${formatSeconds(result.retryAfterMs)} exceeds the ${formatSeconds(o.maxRetryAfterMs)} limit`,
          );
        }
        wait = result.retryAfterMs;
        // The server asked the whole host to back off, not just this URL: hold other sources too.
        limiter.defer(hostKey(current), now() + wait);
      }
      if (wait > 0) await sleep(wait);
    }
  }

  async function attempt(url: URL, validators: Validators): Promise<Attempt> {
    const headers: Record<string, string> = {
      'user-agent': o.userAgent,
      accept: ACCEPT,
      'accept-encoding': 'gzip, deflate, br',
    };
    if (validators.etag !== undefined) headers['if-none-match'] = validators.etag;
    if (validators.lastModified !== undefined) headers['if-modified-since'] = validators.lastModified;

    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher,
        signal: closer.signal,
        method: 'GET',
        headers,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
      });
    } catch (err) {
      return closer.signal.aborted ? closedFailure(err) : describeError(err, o);
    }
    const { statusCode: status, headers: h, body } = res;

    if (status === 304) {
      await discard(body);
      return { kind: 'ok', outcome: { status: 'not-modified', validators: readValidators(h, validators) } };
    }
    if (REDIRECT_STATUSES.has(status)) {
      await discard(body);
      const location = firstHeader(h, 'location');
      if (location !== undefined) return { kind: 'redirect', status, location };
      return {
        kind: 'failed',
        reason: 'bad-response',
        status,
        retryable: false,
        detail: `${statusLine(status)} without Location`,
      };
    }
    if (status < 200 || status >= 300) {
      await discard(body);
      const throttled = status === 429 || status === 503;
      const retryAfter = throttled ? parseRetryAfter(firstHeader(h, 'retry-after'), now()) : undefined;
      return {
        kind: 'failed',
        reason: 'http',
        status,
        retryable: status >= 500 || status === 429 || status === 408,
        detail: statusLine(status),
        ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
      };
    }

    const length = Number(firstHeader(h, 'content-length') ?? Number.NaN);
    if (length > o.maxBodyBytes) {
      abandon(body);
      return {
        kind: 'failed',
        reason: 'too-large',
        status,
        retryable: false,
        detail: `body of ${formatBytes(length)} (Content-Length) exceeds ${formatBytes(o.maxBodyBytes)} limit`,
      };
    }
    const decoders = createDecoders(firstHeader(h, 'content-encoding'));
    if (typeof decoders === 'string') {
      abandon(body);
      return { kind: 'failed', reason: 'bad-response', status, retryable: false, detail: decoders };
    }
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(body, decoders, o.maxBodyBytes);
    } catch (err) {
      return { ...describeError(err, o), status };
    }
    const contentType = firstHeader(h, 'content-type');
    return {
      kind: 'ok',
      outcome: {
        status: 'ok',
        httpStatus: status,
        body: bytes,
        ...(contentType === undefined ? {} : { contentType }),
        validators: readValidators(h, {}),
      },
    };
  }

  let closing: Promise<void> | undefined;
  return {
    fetch: fetchFeed,
    close() {
      closer.abort();
      // Idempotent: shutdown paths tend to close twice, and undici rejects a second close.
      closing ??= injected === undefined ? dispatcher.close() : Promise.resolve();
      return closing;
    },
  };
}

type Attempt =
  | { kind: 'ok'; outcome: DistributiveOmit<FetchOutcome, 'url' | 'finalUrl' | 'attempts'> }
  | { kind: 'redirect'; status: number; location: string }
  | Failure;

interface Failure {
  kind: 'failed';
  reason: FeedFetchReason;
  status?: number;
  retryable: boolean;
  detail: string;
  retryAfterMs?: number;
  cause?: unknown;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Thrown inside the body pipeline; destroying the pipeline is what closes the connection early. */
class BodyTooLarge extends Error {}

/**
 * Reserves start slots per host:port. The reservation is taken synchronously, before any await,
 * so concurrent callers line up in call order instead of all waking at the same instant.
 */
function createHostLimiter(
  intervalMs: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
  closed: AbortSignal,
) {
  // One entry per host ever fetched: bounded by the configured sources, so never pruned.
  const nextStart = new Map<string, number>();
  return {
    async acquire(key: string): Promise<void> {
      let t = now();
      const at = Math.max(t, nextStart.get(key) ?? t);
      nextStart.set(key, at + intervalMs);
      // Timers may fire a little early against the wall clock; never start before the slot.
      while (t < at && !closed.aborted) {
        await sleep(at - t);
        t = now();
      }
    },
    defer(key: string, until: number): void {
      nextStart.set(key, Math.max(nextStart.get(key) ?? until, until));
    },
  };
}

function hostKey(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

function parseHttpUrl(raw: string, base?: URL): URL | undefined {
  const url = URL.parse(raw, base?.href);
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') ? url : undefined;
}

/**
 * Streams the body through the decoders, counting bytes before and after them, and throws
 * {@link BodyTooLarge} the moment either count passes `max`. The pipeline then destroys every
 * stage, the response body included, which aborts the download instead of draining it.
 */
async function readCapped(body: Readable, decoders: Transform[], max: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (total > max) return done(new BodyTooLarge(decoders.length > 0 ? 'decompressed body' : 'body'));
      chunks.push(chunk);
      done();
    },
  });
  const stages: (Readable | Transform | Writable)[] = [body];
  if (decoders.length > 0) stages.push(createByteCap(max), ...decoders);
  stages.push(sink);
  await pipeline(stages);
  return Buffer.concat(chunks, total);
}

function createByteCap(max: number): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      done(total > max ? new BodyTooLarge('body') : null, chunk);
    },
  });
}

/** Decoders for a Content-Encoding, in the order to apply them, or why it cannot be decoded. */
function createDecoders(contentEncoding: string | undefined): Transform[] | string {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  const decoders: Transform[] = [];
  // Codings are listed in the order they were applied, so undo them last to first.
  for (const coding of codings.reverse()) {
    if (coding === 'gzip' || coding === 'x-gzip') decoders.push(createGunzip());
    else if (coding === 'deflate') decoders.push(createDeflateDecoder());
    else if (coding === 'br') decoders.push(createBrotliDecompress());
    else return `unsupported Content-Encoding "${coding}"`;
  }
  return decoders;
}

/**
 * HTTP "deflate" is meant to be zlib-wrapped, but some servers send raw deflate. A zlib stream's
 * first byte has 8 (the deflate method) in its low nibble; raw deflate would only if it began with
 * a non-final stored block padded with a 1 bit, which compressors do not emit. One byte decides.
 */
function createDeflateDecoder(): Transform {
  let inner: Transform | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (inner === undefined) {
        inner = ((chunk[0] ?? 0) & 0x0f) === 8 ? createInflate() : createInflateRaw();
        // No backpressure to honour: the sink downstream never pauses, and the byte cap bounds it.
        inner.on('data', (data: Buffer) => this.push(data));
        inner.on('error', (err) => this.destroy(err));
      }
      inner.write(chunk, () => done());
    },
    flush(done) {
      if (inner === undefined) return done();
      inner.once('end', () => done());
      inner.end();
    },
    destroy(err, done) {
      inner?.destroy();
      done(err);
    },
  });
}

/** Frees the connection without reading more than undici's small dump limit of an unwanted body. */
async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump();
  } catch {
    // Nothing in an unwanted body matters; a broken one just costs the connection.
  }
}

/** Drops a body without reading it: closes the connection rather than download what we will refuse. */
function abandon(body: Dispatcher.ResponseData['body']): void {
  // undici reports the abort we cause as an error event; it is expected, not a failure.
  body.on('error', () => {});
  body.destroy();
}

function describeError(err: unknown, o: HttpOptions): Failure {
  if (err instanceof BodyTooLarge) {
    return {
      kind: 'failed',
      reason: 'too-large',
      retryable: false,
      detail: `${err.message} exceeds ${formatBytes(o.maxBodyBytes)} limit`,
    };
  }
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const timeout = (detail: string): Failure => ({
    kind: 'failed',
    reason: 'timeout',
    retryable: true,
    detail,
    cause: err,
  });
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return timeout(`timed out connecting after ${o.connectTimeoutMs} ms`);
    case 'UND_ERR_HEADERS_TIMEOUT':
      return timeout(`timed out waiting for headers after ${o.headersTimeoutMs} ms`);
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout(`timed out reading the body (no data for ${o.bodyTimeoutMs} ms)`);
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return closedFailure(err);
    case 'UND_ERR_INVALID_ARG':
      // Our own request was malformed (say, a control character in the User-Agent): a bug, not weather.
      throw err;
  }
  if (code?.startsWith('Z_')) {
    return {
      kind: 'failed',
      reason: 'bad-response',
      retryable: false,
      detail: `cannot decode body: ${message}`,
      cause: err,
    };
  }
  // Connection-level failures: refused, reset, DNS. Node's own messages name only host and port.
  const what = [code, message].filter((s) => s !== undefined && s !== '').join(': ');
  return {
    kind: 'failed',
    reason: 'network',
    retryable: true,
    detail: `network error (${what || 'unknown'})`,
    cause: err,
  };
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

function readValidators(headers: Dispatcher.ResponseData['headers'], fallback: Validators): Validators {
  const etag = firstHeader(headers, 'etag') ?? fallback.etag;
  const lastModified = firstHeader(headers, 'last-modified') ?? fallback.lastModified;
  return {
    ...(etag === undefined ? {} : { etag }),
    ...(lastModified === undefined ? {} : { lastModified }),
  };
}

function firstHeader(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the past means
 * "now"; anything unparseable is ignored so the normal backoff applies.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Every HTTP-date form starts with a day name; without this guard Date.parse reads "-5" as a year.
  if (!/^(?:mon|tue|wed|thu|fri|sat|sun)/i.test(trimmed)) return undefined;
  // The asctime form carries no zone but means GMT, which Date.parse would not assume.
  const at = Date.parse(/(?:GMT|UTC)$/i.test(trimmed) ? trimmed : `${trimmed} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function statusLine(status: number): string {
  const text = STATUS_CODES[status];
  return text === undefined ? `HTTP ${status}` : `HTTP ${status} ${text}`;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Number((n / (1024 * 1024)).toFixed(1))} MB`;
  if (n >= 1024) return `${Number((n / 1024).toFixed(1))} KB`;
  return `${n} bytes`;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** A request made, or cut short, after {@link Fetcher.close}: not worth retrying. */
function closedFailure(err: unknown): Failure {
  return { kind: 'failed', reason: 'network', retryable: false, detail: 'the fetcher is closed', cause: err };
}
