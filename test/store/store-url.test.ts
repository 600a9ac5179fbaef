import { describe, expect, it } from 'vitest';
import {
  openStore,
  parseStoreUrl,
  StoreOpenError,
  UnsupportedStoreUrlError,
} from '../../src/store/keyv-store.js';
import { freePort } from '../setup/servers.js';

describe('parseStoreUrl', () => {
  it.each([
    ['sqlite://data/paperboy.sqlite', { kind: 'sqlite', path: '/srv/bot/data/paperboy.sqlite' }],
    ['sqlite://./paperboy.sqlite', { kind: 'sqlite', path: '/srv/bot/paperboy.sqlite' }],
    ['sqlite://../shared/paperboy.sqlite', { kind: 'sqlite', path: '/srv/shared/paperboy.sqlite' }],
    ['sqlite:///var/lib/paperboy/store.sqlite', { kind: 'sqlite', path: '/var/lib/paperboy/store.sqlite' }],
    ['sqlite://:memory:', { kind: 'sqlite', path: ':memory:' }],
    ['redis://127.0.0.1:6379/2', { kind: 'redis', url: 'redis://127.0.0.1:6379/2' }],
    ['rediss://:secret@cache:6380', { kind: 'redis', url: 'rediss://:secret@cache:6380' }],
    ['postgres://bot:pw@db/paperboy', { kind: 'postgres', url: 'postgres://bot:pw@db/paperboy' }],
    ['postgresql://db:5433/paperboy', { kind: 'postgres', url: 'postgresql://db:5433/paperboy' }],
  ])('reads %s', (url, location) => {
    expect(parseStoreUrl(url, '/srv/bot')).toEqual(location);
  });

  it.each([
    'mysql://localhost/paperboy',
    'mongodb://localhost',
    'http://example.org/store',
    'data/paperboy.sqlite',
    'sqlite:data/paperboy.sqlite',
    'sqlite://',
    'sqlite://data/',
    '',
  ])('rejects %j, listing the supported schemes', (url) => {
    expect(() => parseStoreUrl(url)).toThrow(UnsupportedStoreUrlError);
    expect(() => parseStoreUrl(url)).toThrow('sqlite://, redis://, rediss://, postgres://, postgresql://');
  });
});

describe('openStore', () => {
  it('rejects an unsupported URL, hiding its password', async () => {
    const error = await openStore('mysql://bot:hunter2@db/paperboy').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedStoreUrlError);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it.each([
    ['redis', (port: number) => `redis://:hunter2@127.0.0.1:${port}`],
    ['postgres', (port: number) => `postgres://bot:hunter2@127.0.0.1:${port}/paperboy`],
  ])('names the %s server it cannot reach, without the password', async (_, url) => {
    const port = await freePort();
    const error = await openStore(url(port)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).not.toContain('hunter2');
  });
});
