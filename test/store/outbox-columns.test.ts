import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Delivery, deliveryId, planOf, type Target } from '../../src/core/subscription.js';
import { JsonByteWriter, JsonFragment } from '../../src/store/json-bytes.js';
import { openStore } from '../../src/store/keyv-store.js';
import { SqliteKeyvDatabase } from '../../src/store/sqlite-adapter.js';
import { delivery } from '../contracts/roles-contract.js';
import { withColumns } from '../helpers/plan-columns.js';

const a: Target = { kind: 'channel', channelId: '5', guildId: '1' };
const b: Target = { kind: 'user', userId: '6' };

/** Deliveries with what a record's text gets wrong: odd strings, scores, extra rows. */
const ds: Delivery[] = [
  { ...delivery(a, 'arxiv:1', 12.345), subscriptionIds: ['sub:1', 'sub:2'], terms: ['moe', 'agents'] },
  { ...delivery(a, 'test:"q"\\ünï\n', 0.1 + 0.2), terms: ['naïve', 'a"b', 'lone \ud800', '😀'] },
  {
    ...delivery(a, 'arxiv:3', 3),
    id: deliveryId(a, 'arxiv:3', '2026-11-21T00:00:00.000Z'),
    kind: 'update',
    createdAt: '2026-11-22T11:00:00.000Z',
  },
  { ...delivery(b, 'fp:abc', 1e-9), id: 'user:6|custom', subscriptionIds: ['sub:2'] },
  { ...delivery(b, 'arxiv:1', 2 ** 40 + 0.5), terms: [] },
  { ...delivery(b, 'arxiv:4', 0.0005), terms: ['x'] },
];

/** Every stored row of a SQLite file whose key names `call`. */
function rows(file: string, call: string): Map<string, string> {
  const db = SqliteKeyvDatabase.open(file);
  try {
    const keys = db.keys('', Date.now()).filter((k) => k.includes(encodeURIComponent(call)));
    return new Map(keys.map((k) => [k, db.get(k, Date.now()) as string]));
  } finally {
    db.close();
  }
}

describe('outbox records written from a plan’s columns', () => {
  it('are stored byte for byte as the records of its groups', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paperboy-columns-'));
    const files = { columns: join(dir, 'columns.sqlite'), groups: join(dir, 'groups.sqlite') };
    for (const [kind, file] of Object.entries(files)) {
      const store = await openStore(`sqlite://${file}`);
      const plan = kind === 'columns' ? withColumns(planOf(ds)) : planOf(ds);
      expect(plan.columns !== undefined).toBe(kind === 'columns');
      await store.outbox.writePlan(plan, { batch: 'same-call' });
      await store.close();
    }
    const want = rows(files.groups, 'b:same-call');
    expect(want.size).toBe(2);
    expect(rows(files.columns, 'b:same-call')).toEqual(want);
  });

  it('read back, listed, as the deliveries planned', async () => {
    const store = await openStore('sqlite://:memory:');
    try {
      const written = await store.outbox.writePlan(withColumns(planOf(ds)), { batch: 'read-back' });
      await store.outbox.list(written ? [written] : []);
      expect(await store.outbox.pending('channel:5')).toEqual(ds.slice(0, 3));
      expect(await store.outbox.pending('user:6')).toEqual(ds.slice(3));
    } finally {
      await store.close();
    }
  });
});

describe('a JSON fragment', () => {
  class Pair extends JsonFragment {
    constructor(private readonly n: number) {
      super();
    }
    toJSON() {
      return { n: this.n, s: `#${this.n}` };
    }
    writeJson(w: JsonByteWriter) {
      w.byte(0x7b);
      w.string('n');
      w.byte(0x3a);
      w.number(this.n);
      w.byte(0x2c);
      w.string('s');
      w.byte(0x3a);
      w.string(`#${this.n}`);
      w.byte(0x7d);
    }
  }

  it('is written by its own writer where JSON.stringify writes its toJSON, nested anywhere', () => {
    let asked = 0;
    class Counted extends Pair {
      override writeJson(w: JsonByteWriter) {
        asked++;
        super.writeJson(w);
      }
    }
    const value = { top: new Counted(1), list: [new Counted(2.5), { deep: new Counted(-3) }] };
    const w = new JsonByteWriter(16);
    w.write(value);
    expect(asked).toBe(3);
    expect(Buffer.from(w.view(0)).toString('utf8')).toBe(JSON.stringify(value));
  });
});
