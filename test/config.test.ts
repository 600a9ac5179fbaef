import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, redactConfig, stripJsonComments } from '../src/config.js';

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(raw, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config', () => {
  it('gives defaults that ingest the seeds into data/paperboy.sqlite', () => {
    const c = parseConfig({}, {});
    expect(c.store.url).toBe('sqlite://data/paperboy.sqlite');
    expect(c.sources).toEqual([{ name: 'seeds', type: 'digest', path: 'seeds', enabled: true }]);
    expect(c.http.perHostIntervalMs).toBe(3000);
    expect(c.http.maxBodyBytes).toBe(20 * 1024 * 1024);
  });

  it('loads the shipped config/paperboy.jsonc', () => {
    const { config, file } = loadConfig({}, join(import.meta.dirname, '..'));
    expect(file).toMatch(/config\/paperboy\.jsonc$/);
    expect(config.sources.filter((s) => s.enabled).map((s) => s.name)).toEqual(['seeds']);
    expect(config.sources.length).toBeGreaterThan(3);
  });

  it('lets the environment override the store and carry the token', () => {
    const c = parseConfig(
      { store: { url: 'sqlite://x.sqlite' } },
      { PAPERBOY_STORE_URL: 'redis://127.0.0.1:6379', DISCORD_TOKEN: 'abc.def' },
    );
    expect(c.store.url).toBe('redis://127.0.0.1:6379');
    expect(c.discord.token).toBe('abc.def');
  });

  it('takes sharding as "auto", or as a list of ids that exist in shardCount', () => {
    expect(parseConfig({ discord: { shards: 'auto' } }, {}).discord.shards).toBe('auto');
    expect(parseConfig({ discord: { shards: [1], shardCount: 2 } }, {}).discord).toMatchObject({
      shards: [1],
      shardCount: 2,
    });
    expect(parseConfig({ discord: { shardCount: 2 } }, {}).discord.shardCount).toBe(2);
    // discord.js would take `[1]` as the whole fleet: shard 1 of 1, which Discord refuses.
    expect(problems({ discord: { shards: [1] } })).toEqual([
      'discord.shardCount: is required with a list of shards: the total number of shards across all processes',
    ]);
    expect(problems({ discord: { shards: [0, 2], shardCount: 2 } })).toEqual([
      'discord.shards[1]: shard 2 does not exist with shardCount 2 (ids are 0 to 1)',
    ]);
    expect(problems({ discord: { shards: 'auto', shardCount: 4 } })[0]).toMatch(
      /^discord\.shardCount: is ignored with shards "auto"/,
    );
  });

  it('redacts the token and store passwords when printed', () => {
    const c = parseConfig(
      {},
      { PAPERBOY_STORE_URL: 'postgres://paperboy:s3cret@db:5432/pb', DISCORD_TOKEN: 'MTIz.secret.token' },
    );
    const printed = JSON.stringify(redactConfig(c));
    expect(printed).not.toContain('s3cret');
    expect(printed).not.toContain('MTIz.secret.token');
    expect(printed).toContain('postgres://paperboy:***@db:5432/pb');
  });

  it('lists every problem with its path and a hint', () => {
    const found = problems({
      store: { url: 'mysql://x' },
      http: { retries: -1 },
      sources: [
        { name: 'ok', type: 'digest', path: 'seeds' },
        { name: 'a', type: 'feed', url: 'ftp://example.org/feed' },
        { name: 'b', type: 'feed', url: 'not a url' },
        { name: 'c', type: 'podcast', url: 'https://example.org' },
        { name: 'bad name!', type: 'digest', path: 'x' },
      ],
      colour: 'blue',
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'store.url: must start with sqlite://, redis://, rediss:// or postgres://',
        expect.stringMatching(/^http\.retries: /),
        'sources[1].url: must be an http(s) URL',
        'sources[2].url: must be an http(s) URL',
        'sources[3].type: type must be "digest" (a file or directory) or "feed" (a URL)',
        expect.stringMatching(/^sources\[4\]\.name: must be letters/),
        expect.stringMatching(/^\(root\): .*colour/),
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('checks the ingest schedule as node-cron reads it, before anything starts', () => {
    expect(problems({ schedule: { ingestCron: 'every hour' } })).toEqual([
      'schedule.ingestCron: not a cron expression: expected 5 or 6 fields but got 2 (e.g. "0 * * * *" for hourly)',
    ]);
    expect(problems({ schedule: { ingestCron: '61 * * * *' } })[0]).toMatch(
      /^schedule\.ingestCron: not a cron expression: 61 is a invalid expression for minute/,
    );
    for (const ok of ['0 * * * *', '*/15 * * * *', '0 9 * * mon-fri', '30 0 */2 * * *'])
      expect(parseConfig({ schedule: { ingestCron: ok } }, {}).schedule.ingestCron).toBe(ok);
  });

  it('takes an IP address or a host name to listen on, and names anything else', () => {
    for (const host of ['127.0.0.1', '0.0.0.0', '::1', '::', 'localhost', 'paperboy.internal'])
      expect(parseConfig({ service: { host } }, {}).service.host).toBe(host);
    for (const host of ['not a host!!', '', 'http://127.0.0.1', '-bad.example'])
      expect(problems({ service: { host } })).toEqual([
        'service.host: must be an IP address or a host name, such as 127.0.0.1, 0.0.0.0, ::1 or localhost',
      ]);
  });

  it('keeps the contact fit for the User-Agent header', () => {
    expect(parseConfig({}, { PAPERBOY_CONTACT: 'mailto:ops@example.org' }).http.contact).toBe(
      'mailto:ops@example.org',
    );
    for (const contact of ['ops@example.org\r\nX-Evil: 1', 'José <jose@example.org>'])
      expect(problems({ http: { contact } })).toEqual([
        'http.contact: must be printable ASCII (a URL or mailto:), as it goes into the User-Agent header',
      ]);
  });

  it('reports a file that is not JSON with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'paperboy-config-'));
    const file = join(dir, 'bad.jsonc');
    writeFileSync(file, '{ "store": { "url": }');
    expect(() => loadConfig({ PAPERBOY_CONFIG: file }, dir)).toThrow(/bad\.jsonc:\n {2}not valid JSON/);
  });

  it('strips comments and trailing commas but not text inside strings', () => {
    const text = '{\n  // a comment\n  "a": "http://x//y", /* block */ "b": [1, 2,],\n}';
    expect(JSON.parse(stripJsonComments(text))).toEqual({ a: 'http://x//y', b: [1, 2] });
  });
});
