import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type NodeResult, runNode } from './helpers/run-node.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/paperboy.js');

/** Runs the real `paperboy` binary, as `npx paperboy` would, from the repo root. */
const paperboy = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<NodeResult> =>
  runNode([BIN, ...args], ROOT, env);

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

  it('searches with the filter language: 143 papers for multi-task, ranked, with scores', async () => {
    const r = await paperboy(['search', 'multi-task', '--limit', '200', '--json', '--store', storeUrl]);
    expect(r.code).toBe(0);
    const hits = JSON.parse(r.stdout) as Array<{ id: string; title: string; score: number }>;
    expect(hits).toHaveLength(143);
    const scores = hits.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const bad = await paperboy(['search', 'title:"unclosed', '--store', storeUrl]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unclosed quote at column 7');
  });

  it('explains why a paper matches a filter, or not', async () => {
    const yes = await paperboy([
      'explain',
      'multi-task -survey',
      'Gradient Surgery for Multi-Task Learning',
      '--store',
      storeUrl,
    ]);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain('✓ multi-task in title: "Gradient Surgery for Multi-Task Learning"');
    const no = await paperboy([
      'explain',
      'title:robot*',
      'Gradient Surgery for Multi-Task Learning',
      '--store',
      storeUrl,
    ]);
    expect(no.code).toBe(3);
    expect(no.stdout).toContain('does not match');
  });

  it('manages subscriptions and prints what one cycle would post to whom', async () => {
    const url = `sqlite://${join(mkdtempSync(join(tmpdir(), 'paperboy-once-')), 'once.sqlite')}`;
    expect((await paperboy(['ingest', 'seeds', '--store', url])).code).toBe(0);
    const add = await paperboy(['subs', 'add', 'channel:123', '"mixture of experts"', '--store', url]);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('matched 14 paper(s)');
    const again = await paperboy(['subs', 'add', 'channel:123', '"mixture  of experts"', '--store', url]);
    expect(again.stdout).toMatch(/^already there/);
    expect((await paperboy(['subs', 'add', 'nowhere', 'x', '--store', url])).code).toBe(2);
    const list = JSON.parse((await paperboy(['subs', 'list', '--json', '--store', url])).stdout) as Array<{
      id: string;
    }>;
    expect(list).toHaveLength(1);

    const dry = await paperboy(['once', '--dry-run', '--json', '--store', url]);
    expect(dry.code).toBe(0);
    const out = JSON.parse(dry.stdout);
    expect(out.digests).toHaveLength(1);
    expect(out.digests[0]).toMatchObject({ target: 'channel:123', papers: 14 });
    const posted = out.digests[0].posts.reduce((n: number, p: { papers: number }) => n + p.papers, 0);
    expect(posted).toBe(14);
    // A dry run posts nothing: the same 14 are still pending the next time.
    const twice = JSON.parse((await paperboy(['once', '--dry-run', '--json', '--store', url])).stdout);
    expect(twice.digests[0].papers).toBe(14);
    const noToken = await paperboy(['once', '--store', url]);
    expect(noToken.code).toBe(2);
    expect(noToken.stdout).toContain('DISCORD_TOKEN is not set');

    expect((await paperboy(['subs', 'remove', list[0]?.id ?? '', '--store', url])).code).toBe(0);
    expect((await paperboy(['subs', 'remove', list[0]?.id ?? '', '--store', url])).code).toBe(1);
    // Its 14 queued matches are not posted once it is gone.
    const after = JSON.parse((await paperboy(['once', '--dry-run', '--json', '--store', url])).stdout);
    expect(after.digests).toEqual([]);
    // Eleven runs of the real binary, each a fresh Node process: seconds each on a loaded machine.
  }, 120_000);
});
