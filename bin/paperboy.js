#!/usr/bin/env node
// Runs the compiled bundle (dist/, made by `npm ci` or `npm run build`: src/build.ts) while it is
// newer than every source file, and the TypeScript sources through tsx otherwise, so an edit
// needs no build step. PAPERBOY_FROM_SOURCE=1 runs the sources in any case.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time (ms) of any file under `dir`; 0 when there is none. */
function newestMtime(dir) {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** The bundle, when it and the search thread's script are both newer than the sources. */
function compiled() {
  if (process.env.PAPERBOY_FROM_SOURCE === '1') return undefined;
  const files = ['dist/paperboy.js', 'dist/search-worker.cjs'].map((f) => join(root, f));
  if (!files.every((f) => existsSync(f))) return undefined;
  const built = Math.min(...files.map((f) => statSync(f).mtimeMs));
  return built >= newestMtime(join(root, 'src')) ? files[0] : undefined;
}

let entry = compiled();
if (entry === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src/cli.ts');
}
const { main } = await import(pathToFileURL(entry).href);
await main();
