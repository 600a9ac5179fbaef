import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(join(import.meta.dirname, '..', file), 'utf8');

/**
 * The memory settings of ADR 8 live in three places: the image, `npm start`, and the bench's
 * full cycle, which reports the figures for them. A setting changed in one must change in all.
 */
describe('how paperboy is run', () => {
  const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start;
  const docker = read('Dockerfile');
  const bench = read('bench/run.ts');

  it('uses two malloc arenas in the image, npm start and the bench cycle', () => {
    expect(docker).toMatch(/^\s+MALLOC_ARENA_MAX=2 \\$/m);
    expect(start).toContain('MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}');
    expect(bench).toContain("MALLOC_ARENA_MAX: '2'");
  });

  it('has large blocks mmapped (returned when freed) in the image, npm start and the bench cycle', () => {
    expect(docker).toMatch(/^\s+MALLOC_MMAP_THRESHOLD_=131072 \\$/m);
    expect(start).toContain('MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-131072}');
    expect(bench).toContain("MALLOC_MMAP_THRESHOLD_: '131072'");
  });

  it('halves the young generation in the image, npm start and the bench cycle', () => {
    expect(docker).toMatch(/^\s+NODE_OPTIONS=--max-semi-space-size=4 \\$/m);
    expect(start).toContain('node --max-semi-space-size=4 --no-parallel-scavenge bin/paperboy.js run');
    expect(bench).toContain(
      "const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4', '--no-parallel-scavenge'];",
    );
  });

  it('collects young generations without helper threads in the image, npm start and the bench cycle', () => {
    // A V8 flag Node takes only on its command line, so the image sets it in its entrypoint.
    expect(docker).toMatch(/^ENTRYPOINT \["node", "--no-parallel-scavenge", "bin\/paperboy\.js"\]$/m);
    expect(start).toContain('--no-parallel-scavenge');
    expect(bench).toContain("'--no-parallel-scavenge'");
  });

  it('runs the compiled bundle in the image, with no sources beside it', () => {
    expect(docker).toMatch(/^RUN npm run build$/m);
    expect(docker).toMatch(/^COPY --from=deps --chown=root:root \/app\/dist \.\/dist$/m);
    const runtime = docker.slice(docker.indexOf(' AS runtime'));
    expect(runtime).toContain('COPY --chown=root:root bin ./bin');
    expect(runtime).not.toMatch(/^COPY\b.*\bsrc\b/m);
  });
});
