import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openStore } from '../../src/store/keyv-store.js';
import { runStoreContract } from '../contracts/store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'paperboy-sqlite-'));
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A new file per store, in a directory that does not exist yet.
runStoreContract(
  'sqlite',
  () => openStore(`sqlite://${join(dir, String(++n), 'paperboy.sqlite')}`),
  openStore,
);
runStoreContract('sqlite in memory', () => openStore('sqlite://:memory:'));
