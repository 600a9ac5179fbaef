/**
 * The compiled paperboy (`src/build.ts`): built into a scratch copy of the Docker image's layout
 * (bin, dist, package.json, config, seeds and node_modules; no sources), where it must run on its
 * own, and `bin/paperboy.js` choosing between dist/ and the sources by their modification times.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist, bundleScript, bundleSearchWorker } from '../src/build.js';
import { runNode } from './helpers/run-node.js';

const ROOT = join(import.meta.dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'paperboy-build-'));
/** The image's /app. */
const app = join(scratch, 'app');
const dist = join(app, 'dist');

const node = (args: string[], env: NodeJS.ProcessEnv = {}) => runNode(args, app, env);

const bin = (...args: string[]) => node([join(app, 'bin/paperboy.js'), ...args]);

/** Sets the modification time of every file under `dir` to `at`. */
function touchAll(dir: string, at: Date): void {
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) utimesSync(join(e.parentPath, e.name), at, at);
}

beforeAll(async () => {
  mkdirSync(app);
  for (const f of ['bin', 'config', 'seeds', 'package.json'])
    cpSync(join(ROOT, f), join(app, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
  await buildDist(dist);
}, 60_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('the compiled bundle, as the image runs it (no sources)', () => {
  it('ingests, searches and prints its version from dist/', async () => {
    const store = `sqlite://${join(scratch, 'image.sqlite')}`;
    const version = await bin('--version');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const ingest = await bin('ingest', 'seeds', '--json', '--store', store);
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.stdout)).toMatchObject({ parsed: 668, new: 544, updated: 1, duplicates: 123 });
    const search = await bin('search', 'title:"mixture of experts"', '--json', '--store', store);
    expect(search.code).toBe(0);
    const hits = JSON.parse(search.stdout) as Array<{ title: string }>;
    expect(hits.length).toBeGreaterThan(0);
    for (const h of hits) expect(h.title).toMatch(/mixture[ -]of[ -]experts/i);
  });

  it('runs the search thread from dist/search-worker.cjs, the same code the sources bundle to', async () => {
    const script = await bundleScript('test/fixtures/compiled-search.ts', 'compiled-search', dist);
    const ok = await node([script]);
    expect(ok).toMatchObject({ code: 0, stdout: '["arxiv:2612.00001"]\n' });

    const worker = join(dist, 'search-worker.cjs');
    expect(readFileSync(worker, 'utf8')).toBe(bundleSearchWorker());
    // Without it, a bundle says which file is missing and what makes it.
    renameSync(worker, `${worker}.away`);
    try {
      const missing = await node([script]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain(`${worker} cannot be read`);
      expect(missing.stderr).toContain('run `npm run build`');
    } finally {
      renameSync(`${worker}.away`, worker);
    }
  });
});

describe('bin/paperboy.js', () => {
  // A stand-in for dist's CLI, so the test sees which of the two ran.
  const marker = "export async function main() { console.log('dist ran'); }\n";
  const past = new Date('2026-01-01T00:00:00Z');

  beforeAll(() => {
    cpSync(join(ROOT, 'src'), join(app, 'src'), { recursive: true });
    touchAll(join(app, 'src'), past);
    writeFileSync(join(dist, 'paperboy.js'), marker);
  });

  afterAll(async () => {
    rmSync(join(app, 'src'), { recursive: true, force: true });
    await buildDist(dist);
  }, 60_000);

  it('runs dist/ while it is newer than every source file', async () => {
    expect(await bin('--version')).toMatchObject({ code: 0, stdout: 'dist ran\n' });
  });

  it('runs the sources once one of them is newer, or when asked to', async () => {
    expect(
      await node([join(app, 'bin/paperboy.js'), '--version'], { PAPERBOY_FROM_SOURCE: '1' }),
    ).toMatchObject({
      code: 0,
      stdout: '0.1.0\n',
    });
    const edited = join(app, 'src/core/paper.ts');
    const later = new Date(statSync(join(dist, 'search-worker.cjs')).mtimeMs + 1000);
    utimesSync(edited, later, later);
    try {
      expect(await bin('--version')).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    } finally {
      utimesSync(edited, past, past);
    }
    expect(await bin('--version')).toMatchObject({ code: 0, stdout: 'dist ran\n' });
  });
});
