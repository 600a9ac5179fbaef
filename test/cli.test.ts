import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/paperboy.js');
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `paperboy` binary, as `npx paperboy` would, from the repo root. */
async function paperboy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let storeUrl: string;
beforeAll(() => {
  storeUrl = `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-cli-')), 'cli.sqlite')}`;
});

describe('paperboy CLI', () => {
  it('ingests the seeds, then finds nothing new on the second run', async () => {
    const first = await paperboy(['ingest', 'seeds', '--json', '--store', storeUrl]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      parsed: 668,
      new: 544,
      updated: 1,
      duplicates: 123,
      failedSources: [],
    });
    const second = await paperboy(['ingest', 'seeds', '--store', storeUrl]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^parsed 0 · new 0 · updated 0 · duplicates 0/);
    expect(second.stdout).toContain('unchanged since last ingest, skipped');
  });

  it('searches plain words and shows a paper by its exact title', async () => {
    const search = await paperboy([
      'search',
      'mixture experts',
      '--limit',
      '5',
      '--json',
      '--store',
      storeUrl,
    ]);
    expect(search.code).toBe(0);
    const hits = JSON.parse(search.stdout) as Array<{ id: string; title: string; score: number }>;
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.length).toBeLessThanOrEqual(5);
    for (const h of hits) expect(h.id).toMatch(/^(fp|arxiv):/);
    const show = await paperboy(['show', hits[0]?.title ?? '', '--json', '--store', storeUrl]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      id: hits[0]?.id,
      title: hits[0]?.title,
      sources: ['seeds'],
    });
  });

  it('says so when a paper is not in the store', async () => {
    const r = await paperboy(['show', '2411.99999', '--store', storeUrl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no paper "2411.99999" in the store/);
  });

  it('exits 1 with the reason when no source could be read', async () => {
    const r = await paperboy(['ingest', 'no/such/dir', '--json', '--store', storeUrl]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).failedSources).toEqual([
      { source: 'no/such/dir', error: expect.stringMatching(/no such file or directory/) },
    ]);
  });

  it('prints the effective config with the token redacted', async () => {
    const r = await paperboy(['config', 'check'], { DISCORD_TOKEN: 'MTIz.super.secret' });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('MTIz.super.secret');
    expect(JSON.parse(r.stdout).discord.token).toBe('[redacted]');
  });

  it('lists every config problem with its path and exits 2', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'paperboy-cfg-')), 'bad.jsonc');
    writeFileSync(
      file,
      JSON.stringify({
        sources: [
          { name: 'a', type: 'digest', path: 'seeds' },
          { name: 'b', type: 'feed', url: 'gopher://x' },
        ],
      }),
    );
    const r = await paperboy(['config', 'check'], { PAPERBOY_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sources[1].url: must be an http(s) URL');
  });

  it('rejects an unknown store scheme and an unknown command with exit 2', async () => {
    const store = await paperboy(['search', 'x', '--store', 'mysql://localhost/db']);
    expect(store.code).toBe(2);
    expect(store.stderr).toMatch(/store\.url: must start with sqlite:\/\//);
    const cmd = await paperboy(['frobnicate']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "frobnicate"/);
  });
});
