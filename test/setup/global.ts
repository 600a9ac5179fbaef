/**
 * Vitest global setup: starts the Redis and PostgreSQL servers the selected test files ask for
 * (a file asks by calling `inject('redisUrl')` / `inject('postgresUrl')`), hands their URLs to
 * the tests, and stops them by pid afterwards.
 *
 * A missing server binary fails the run when `CI` is set; elsewhere those suites are skipped.
 */
import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import {
  findPostgresBinDir,
  findRedisServer,
  type RunningServer,
  startPostgres,
  startRedis,
} from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A running, empty Redis; undefined when redis-server is not installed. */
    redisUrl: string | undefined;
    /** A database on a running PostgreSQL; undefined when PostgreSQL is not installed. */
    postgresUrl: string | undefined;
    /** Where `createdb` lives, for tests that want more databases on that server. */
    postgresBinDir: string | undefined;
  }
}

/** Which servers the files of this run use; every server when that cannot be told. */
async function wanted(project: TestProject): Promise<{ redis: boolean; postgres: boolean }> {
  if (project.config.watch) return { redis: true, postgres: true };
  // The CLI's file filters (`vitest run store/sqlite`); not part of Vitest's typed API.
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  const { testFiles } = await project.globTestFiles(filters);
  const sources = testFiles.map((file) => readFileSync(file, 'utf8'));
  return {
    redis: sources.some((s) => s.includes("inject('redisUrl')")),
    postgres: sources.some((s) => s.includes("inject('postgresUrl')")),
  };
}

function missing(what: string, install: string): undefined {
  const message = `${what} is not installed (${install})`;
  if (process.env.CI) throw new Error(`${message}: CI must run the ${what} store tests`);
  console.warn(`\n[paperboy tests] ${message}: skipping the ${what} store tests.\n`);
  return undefined;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const want = await wanted(project);
  const redisBin = want.redis
    ? (findRedisServer() ?? missing('Redis', 'apt-get install redis-server'))
    : undefined;
  const pgBin = want.postgres
    ? (findPostgresBinDir() ?? missing('PostgreSQL', 'apt-get install postgresql'))
    : undefined;

  const [redis, postgres] = await Promise.allSettled([
    redisBin === undefined ? undefined : startRedis(redisBin),
    pgBin === undefined ? undefined : startPostgres(pgBin),
  ]);
  const servers: RunningServer[] = [];
  for (const r of [redis, postgres]) if (r.status === 'fulfilled' && r.value) servers.push(r.value);
  const teardown = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  if (redis.status === 'rejected' || postgres.status === 'rejected') {
    await teardown();
    throw redis.status === 'rejected' ? redis.reason : (postgres as PromiseRejectedResult).reason;
  }
  project.provide('redisUrl', redis.value?.url);
  project.provide('postgresUrl', postgres.value?.url);
  project.provide('postgresBinDir', postgres.value?.binDir);
  return teardown;
}
