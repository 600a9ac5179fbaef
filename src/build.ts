/**
 * paperboy compiled for running, with esbuild: `dist/paperboy.js`, the CLI as an ES module (with
 * chunks beside it for what it loads lazily; its dependencies stay in node_modules), and
 * `dist/search-worker.cjs`, the search thread as one plain script. `npm ci` makes them (the
 * `prepare` script, `npm run build`); `bin/paperboy.js` runs them while they are newer than every
 * source file, and the TypeScript sources through tsx otherwise.
 *
 * Why compiled: tsx compiles each module as it is loaded, on a module-hooks thread that lives as
 * long as the process. Without it a 100k-paper cycle peaked ~12 MB lower (median of eight
 * alternated rounds, ADR 8, stop 15 addendum), against a budget of 400 MB, and an idle
 * `paperboy config check` ~30 MB lower.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync } from 'esbuild';

/**
 * The repository: this file is `src/build.ts`, or inlined in `dist/paperboy.js` (one level down
 * either way).
 */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where {@link buildDist} writes, and what `bin/paperboy.js` runs. */
export const DIST = join(ROOT, 'dist');

/**
 * Set in every bundle {@link buildDist} and {@link bundleScript} write: such code reads the search
 * thread's script from `dist/search-worker.cjs` instead of bundling it from the sources.
 */
const BUNDLED_FLAG = '__PAPERBOY_BUNDLED__';
declare const __PAPERBOY_BUNDLED__: boolean | undefined;

/** Whether this code runs from a bundle {@link bundleScript} wrote (not the sources). */
export function isBundled(): boolean {
  return typeof __PAPERBOY_BUNDLED__ !== 'undefined' && __PAPERBOY_BUNDLED__;
}

const COMMON: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
};

/** The search thread's script (`src/pipeline/search-worker.ts` and everything it imports). */
export function bundleSearchWorker(): string {
  const built = buildSync({
    ...COMMON,
    entryPoints: [join(ROOT, 'src/pipeline/search-worker.ts')],
    write: false,
    format: 'cjs',
    logLevel: 'silent',
  });
  const text = built.outputFiles[0]?.text;
  if (text === undefined) throw new Error('esbuild wrote no search-worker bundle');
  return text;
}

/**
 * `entry` (a path from the repository's root) as the ES module `<name>.js` in `outdir`, its
 * packages imported from node_modules. The bench runs its scripts so, as the service runs.
 * A bundle finds the repository one level up from `outdir` (package.json), and the search
 * thread's script in `outdir`.
 *
 * What the sources import only when needed (`await import`: the service, the Redis and Postgres
 * adapters) goes into chunks of its own beside it, loaded then: bundled into one file, every
 * package they import was loaded at start-up (`paperboy config check` peaked at 125 MB of RSS
 * instead of 113 through tsx).
 */
export async function bundleScript(entry: string, name: string, outdir = DIST): Promise<string> {
  await build({
    ...COMMON,
    entryPoints: { [name]: join(ROOT, entry) },
    outdir,
    format: 'esm',
    splitting: true,
    packages: 'external',
    define: { [BUNDLED_FLAG]: 'true' },
  });
  return join(outdir, `${name}.js`);
}

/**
 * Empties `outdir`, then writes `search-worker.cjs`, `paperboy.js` and its chunks there; returns
 * the paths of the first two.
 */
export async function buildDist(outdir = DIST): Promise<string[]> {
  // Chunks are named by their content: an old build's would stay beside the new one.
  rmSync(outdir, { recursive: true, force: true });
  const worker = join(outdir, 'search-worker.cjs');
  // The worker first: bin/paperboy.js runs dist only when both are newer than the sources. The
  // very script start-up bundling makes (`bundleSearchWorker`), written out.
  mkdirSync(outdir, { recursive: true });
  writeFileSync(worker, bundleSearchWorker());
  return [worker, await bundleScript('src/cli.ts', 'paperboy', outdir)];
}

// `npm run build` (node --import tsx src/build.ts). Never in a bundle, which inlines this file.
if (!isBundled() && process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const file of await buildDist()) console.log(`wrote ${file}`);
}
