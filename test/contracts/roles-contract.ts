/**
 * The contract of subscriptions, target settings, the outbox and leases: run once per backend,
 * on real servers. `open` gives an empty store; `second` a second, independent connection to the
 * same data (another process, as far as the backend can tell) when the backend has one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Delivery,
  deliveryId,
  planOf,
  type Subscription,
  subscriptionId,
  type Target,
  targetKey,
} from '../../src/core/subscription.js';
import type { OpenStoreOptions } from '../../src/store/keyv-store.js';
import type { OutboxBatch, Store } from '../../src/store/types.js';
import { withColumns } from '../helpers/plan-columns.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const channel = (id: string): Target => ({ kind: 'channel', channelId: id, guildId: '1' });
const user = (id: string): Target => ({ kind: 'user', userId: id });

export function sub(target: Target, query: string, extra: Partial<Subscription> = {}): Subscription {
  return {
    id: subscriptionId(target, query),
    target,
    query,
    createdBy: '42',
    createdAt: '2026-11-22T10:00:00.000Z',
    mode: 'immediate',
    notifyUpdates: false,
    backfillHours: 24,
    ...extra,
  };
}

export function delivery(target: Target, paperId: string, score = 1): Delivery {
  return {
    id: deliveryId(target, paperId),
    target,
    paperId,
    subscriptionIds: ['sub:1'],
    score,
    terms: ['multi-task'],
    kind: 'new',
    createdAt: '2026-11-22T10:00:00.000Z',
    state: 'pending',
    attempts: 0,
  };
}

export function runRolesContract(
  name: string,
  open: (opts?: OpenStoreOptions) => Promise<Store>,
  second?: (first: Store) => Promise<Store>,
): void {
  describe(`${name}: subscriptions, outbox and leases`, () => {
    const opened: Store[] = [];
    const track = (s: Store) => {
      opened.push(s);
      return s;
    };
    const fresh = async () => track(await open());
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('keeps one subscription per target and query, lists by target, pauses and removes', async () => {
      const store = await fresh();
      const a = sub(channel('100'), 'multi-task');
      await store.subscriptions.put(a);
      await store.subscriptions.put(sub(channel('100'), 'multi-task', { createdBy: 'other' }));
      await store.subscriptions.put(sub(user('7'), 'multi-task'));
      await store.subscriptions.put(sub(channel('100'), '"mixture of experts"'));
      expect(await store.subscriptions.list()).toHaveLength(3);
      expect((await store.subscriptions.listByTarget('channel:100')).map((s) => s.query).sort()).toEqual([
        '"mixture of experts"',
        'multi-task',
      ]);
      expect(await store.subscriptions.listByTarget('user:7')).toHaveLength(1);
      await store.subscriptions.setPaused(a.id, {
        reason: 'Missing Permissions',
        at: '2026-11-22T11:00:00.000Z',
        code: 50013,
      });
      expect((await store.subscriptions.get(a.id))?.paused).toEqual({
        reason: 'Missing Permissions',
        at: '2026-11-22T11:00:00.000Z',
        code: 50013,
      });
      await store.subscriptions.setPaused(a.id, undefined);
      expect((await store.subscriptions.get(a.id))?.paused).toBeUndefined();
      expect(await store.subscriptions.remove(a.id)).toBe(true);
      expect(await store.subscriptions.remove(a.id)).toBe(false);
      expect(await store.subscriptions.listByTarget('channel:100')).toHaveLength(1);
    });

    it('round-trips 10,000 subscriptions', async () => {
      const store = await fresh();
      const many = Array.from({ length: 10_000 }, (_, i) =>
        sub(channel(String(i % 500)), `term${i} OR "a phrase ${i}"`),
      );
      await Promise.all(many.map((s) => store.subscriptions.put(s)));
      const listed = await store.subscriptions.list();
      expect(listed).toHaveLength(10_000);
      expect(new Set(listed.map((s) => s.id))).toEqual(new Set(many.map((s) => s.id)));
    });

    it('stores target settings by target', async () => {
      const store = await fresh();
      await store.targets.set({
        target: channel('5'),
        mode: 'daily',
        time: '09:30',
        timezone: 'Europe/Berlin',
      });
      expect(await store.targets.get('channel:5')).toMatchObject({ mode: 'daily', time: '09:30' });
      expect(await store.targets.get('channel:6')).toBeUndefined();
      expect(await store.targets.list()).toHaveLength(1);
    });

    it('never plans a delivery twice, pending or sent', async () => {
      const store = await fresh();
      const t = channel('100');
      const ds = [
        delivery(t, 'arxiv:2411.17700'),
        delivery(t, 'fp:abc'),
        delivery(user('7'), 'arxiv:2411.17700'),
      ];
      expect((await store.outbox.enqueue(ds)).sort()).toEqual(ds.map((d) => d.id).sort());
      expect(await store.outbox.enqueue(ds)).toEqual([]);
      expect((await store.outbox.pending('channel:100')).map((d) => d.paperId).sort()).toEqual([
        'arxiv:2411.17700',
        'fp:abc',
      ]);
      expect(await store.outbox.pending()).toHaveLength(3);
      await store.outbox.markSent([ds[0]?.id as string], {
        messageId: 'm1',
        sentAt: '2026-11-22T12:00:00.000Z',
      });
      expect(await store.outbox.enqueue([delivery(t, 'arxiv:2411.17700')])).toEqual([]);
      expect((await store.outbox.pending('channel:100')).map((d) => d.paperId)).toEqual(['fp:abc']);
      expect((await store.outbox.get([ds[0]?.id as string])).get(ds[0]?.id as string)).toMatchObject({
        state: 'sent',
        messageId: 'm1',
      });
      await store.outbox.recordFailure([ds[1]?.id as string], 'HTTP 502');
      await store.outbox.recordFailure([ds[1]?.id as string], 'HTTP 502');
      expect((await store.outbox.get([ds[1]?.id as string])).get(ds[1]?.id as string)).toMatchObject({
        attempts: 2,
        lastError: 'HTTP 502',
        state: 'pending',
      });
      await store.outbox.drop([ds[2]?.id as string], 'paper gone');
      expect(await store.outbox.pending('user:7')).toEqual([]);
      expect(await store.outbox.stats()).toEqual({ pending: 1, sent: 1, failed: 1 });
      // The index alone counts its record's planned two, one of them sent: a record goes once all of it is settled.
      expect((await store.outbox.stats({ exact: false })).pending).toBe(2);
    });

    it('lists a target while it has pending deliveries and forgets it once all are settled', async () => {
      const store = await fresh();
      const t = channel('200');
      const first = [delivery(t, 'arxiv:1'), delivery(t, 'arxiv:2')];
      const second = [delivery(t, 'arxiv:3')];
      await store.outbox.enqueue(first, { fresh: true });
      await store.outbox.enqueue(second, { fresh: true });
      expect(await store.outbox.pendingTargets()).toEqual(['channel:200']);
      await store.outbox.markSent(
        first.map((d) => d.id),
        { messageId: 'm1', sentAt: '2026-11-22T12:00:00.000Z' },
      );
      expect((await store.outbox.pending('channel:200')).map((d) => d.paperId)).toEqual(['arxiv:3']);
      expect(await store.outbox.pendingTargets()).toEqual(['channel:200']);
      await store.outbox.drop([second[0]?.id as string], 'paper gone');
      expect(await store.outbox.pending('channel:200')).toEqual([]);
      expect(await store.outbox.pendingTargets()).toEqual([]);
      expect((await store.outbox.stats({ exact: false })).pending).toBe(0);
      // Settled deliveries keep their state after their records are gone.
      expect((await store.outbox.get([first[0]?.id as string])).get(first[0]?.id as string)).toMatchObject({
        state: 'sent',
      });
      expect(await store.outbox.enqueue(first)).toEqual([]);
    });

    it('keeps a settled delivery while a record lists it, then for its retention, then lets it go', async () => {
      const retention = 1500;
      const store = track(await open({ settledRetentionMs: retention }));
      const t = channel('250');
      const [sent, dropped, later] = [delivery(t, 'arxiv:1'), delivery(t, 'arxiv:2'), delivery(t, 'arxiv:3')];
      if (!sent || !dropped || !later) throw new Error('deliveries');
      await store.outbox.enqueue([sent, dropped], { fresh: true });
      await store.outbox.enqueue([later], { fresh: true });
      await store.outbox.markSent([sent.id], { messageId: 'm1', sentAt: '2026-11-22T12:00:00.000Z' });
      await store.outbox.drop([dropped.id], 'paper gone');
      const state = async (id: string) => (await store.outbox.get([id])).get(id)?.state;
      // Not yet read since: their record is still listed, and so keeps its states past the retention.
      await sleep(retention + 300);
      expect(await state(sent.id)).toBe('sent');
      // This read prunes their record; from now on they are kept for the retention only.
      expect((await store.outbox.pending('channel:250')).map((d) => d.paperId)).toEqual(['arxiv:3']);
      expect(await store.outbox.enqueue([sent, dropped])).toEqual([]);
      expect(await state(dropped.id)).toBe('dropped');
      await sleep(retention + 300);
      // SQLite and Postgres give the expired rows' space back when purged; Redis expired them itself.
      expect(await store.purgeExpired()).toBe(name === 'redis' ? 0 : 2);
      expect(await store.purgeExpired()).toBe(0);
      expect(await state(sent.id)).toBeUndefined();
      expect(await state(dropped.id)).toBeUndefined();
      // The pending one, in its own record, is untouched.
      expect(await state(later.id)).toBe('pending');
      // Past the retention a delivery could be planned again; nothing plans a paper that old.
      expect(await store.outbox.enqueue([sent])).toEqual([sent.id]);
    });

    it('replays an enqueue under the same batch key without posting settled deliveries again', async () => {
      const store = await fresh();
      const t = channel('300');
      const ds = [delivery(t, 'arxiv:1'), delivery(t, 'arxiv:2')];
      await store.outbox.enqueue(ds, { fresh: true, batch: 'journal-7' });
      await store.outbox.markSent([ds[0]?.id as string], {
        messageId: 'm1',
        sentAt: '2026-11-22T12:00:00.000Z',
      });
      // A crash after the enqueue, before the journal entry was cleared: the same call again.
      await store.outbox.enqueue(ds, { fresh: true, batch: 'journal-7' });
      expect((await store.outbox.pending('channel:300')).map((d) => d.paperId)).toEqual(['arxiv:2']);
      expect((await store.outbox.stats()).pending).toBe(1);
    });

    it('keeps planned deliveries exactly as planned, and replays a plan under its batch key', async () => {
      const store = await fresh();
      const t = channel('350');
      const ds: Delivery[] = [
        { ...delivery(t, 'arxiv:1', 12.345), subscriptionIds: ['sub:1', 'sub:2'], terms: ['moe', 'agents'] },
        { ...delivery(t, 'arxiv:2', 0.1 + 0.2), terms: [] },
        {
          ...delivery(t, 'arxiv:3', 3),
          id: deliveryId(t, 'arxiv:3', '2026-11-21T00:00:00.000Z'),
          kind: 'update',
          createdAt: '2026-11-22T11:00:00.000Z',
        },
        { ...delivery(user('8'), 'fp:abc', 1e-9), id: 'user:8|custom' },
      ];
      expect(await store.outbox.enqueuePlan(planOf(ds), { fresh: true, batch: 'step-1' })).toBe(4);
      expect(await store.outbox.pending('channel:350')).toEqual(ds.slice(0, 3));
      expect((await store.outbox.get(['user:8|custom'])).get('user:8|custom')).toEqual(ds[3]);
      await store.outbox.markSent([ds[0]?.id as string], {
        messageId: 'm1',
        sentAt: '2026-11-22T12:00:00.000Z',
      });
      await store.outbox.enqueuePlan(planOf(ds), { fresh: true, batch: 'step-1' });
      expect((await store.outbox.pending()).map((d) => d.id).sort()).toEqual(
        ds
          .slice(1)
          .map((d) => d.id)
          .sort(),
      );
      expect((await store.outbox.stats({ exact: false })).pending).toBe(4);
      // Unchecked plans are checked like any enqueue: nothing here is new.
      expect(await store.outbox.enqueuePlan(planOf(ds))).toBe(0);
    });

    it('writes a plan unlisted: nothing pending until it is listed, each step once, replays included', async () => {
      const store = await fresh();
      const [a, b] = [channel('360'), user('9')];
      const step1 = [delivery(a, 'arxiv:1'), delivery(b, 'arxiv:1'), delivery(a, 'arxiv:2')];
      const step2 = [delivery(a, 'arxiv:3')];
      const w1 = await store.outbox.writePlan(planOf(step1), { batch: 'pass-1' });
      const w2 = await store.outbox.writePlan(planOf(step2), { batch: 'pass-2' });
      expect(await store.outbox.writePlan(planOf([]), { batch: 'pass-3' })).toBeUndefined();
      expect(w1?.targets.sort()).toEqual([
        ['channel:360', 2],
        ['user:9', 1],
      ]);
      expect(await store.outbox.pending()).toEqual([]);
      expect(await store.outbox.pendingTargets()).toEqual([]);
      await store.outbox.list([w1, w2].filter((w) => w !== undefined));
      const all = [...step1, ...step2].map((d) => d.id).sort();
      expect((await store.outbox.pending()).map((d) => d.id).sort()).toEqual(all);
      expect((await store.outbox.stats({ exact: false })).pending).toBe(4);
      // Listed again, and a step written again under its batch and listed (a replay): the same.
      const again = await store.outbox.writePlan(planOf(step2), { batch: 'pass-2' });
      await store.outbox.list([w1, again].filter((w) => w !== undefined));
      expect((await store.outbox.pending()).map((d) => d.id).sort()).toEqual(all);
      expect((await store.outbox.stats({ exact: false })).pending).toBe(4);
      expect(await store.outbox.pending('channel:360')).toEqual([step1[0], step1[2], step2[0]]);
    });

    it('writes a plan from its columns as from its groups: the same deliveries read back', async () => {
      const store = await fresh();
      const [a, b] = [channel('365'), user('11')];
      const ds: Delivery[] = [
        { ...delivery(a, 'arxiv:1', 12.345), subscriptionIds: ['sub:1', 'sub:2'], terms: ['moe', 'agents'] },
        { ...delivery(a, 'test:"q"\\ünï', 0.1 + 0.2), terms: ['naïve', 'a"b', 'lone \ud800'] },
        {
          ...delivery(a, 'arxiv:3', 3),
          id: deliveryId(a, 'arxiv:3', '2026-11-21T00:00:00.000Z'),
          kind: 'update',
          createdAt: '2026-11-22T11:00:00.000Z',
        },
        { ...delivery(b, 'fp:abc', 1e-9), id: 'user:11|custom', subscriptionIds: ['sub:2'] },
        { ...delivery(b, 'arxiv:1', 2 ** 40), terms: [] },
      ];
      const plan = withColumns(planOf(ds));
      expect(plan.columns).toBeDefined();
      const written = await store.outbox.writePlan(plan, { batch: 'cols-1' });
      expect(written?.targets.sort()).toEqual([
        ['channel:365', 3],
        ['user:11', 2],
      ]);
      await store.outbox.list(written ? [written] : []);
      expect(await store.outbox.pending('channel:365')).toEqual(ds.slice(0, 3));
      expect(await store.outbox.pending('user:11')).toEqual(ds.slice(3));
    });

    it('sweeps records written and never listed once they are old, and nothing else', async () => {
      const store = await fresh();
      const [a, b] = [channel('370'), user('10')];
      const now = new Date('2026-11-24T12:00:00.000Z');
      const young = (d: Delivery): Delivery => ({ ...d, createdAt: '2026-11-24T11:00:00.000Z' });
      // Planned two days before `now`: one step listed, one left unlisted (a pass killed
      // between the two), and a young step a running pass has not listed yet.
      const listedStep = [delivery(a, 'arxiv:1'), delivery(b, 'arxiv:1')];
      const orphanStep = [delivery(a, 'arxiv:2'), delivery(b, 'arxiv:2')];
      const youngStep = [young(delivery(a, 'arxiv:3'))];
      const listed = await store.outbox.writePlan(planOf(listedStep), { batch: 'old-1' });
      const orphan = await store.outbox.writePlan(planOf(orphanStep), { batch: 'old-2' });
      const running = await store.outbox.writePlan(planOf(youngStep), { batch: 'young-1' });
      if (!listed || !orphan || !running) throw new Error('a step wrote nothing');
      await store.outbox.list([listed]);
      const pendingIds = async () => (await store.outbox.pending()).map((d) => d.id).sort();
      expect(await store.outbox.sweepUnlisted({ olderThanMs: 24 * 3_600_000, now })).toBe(2);
      expect(await pendingIds()).toEqual(listedStep.map((d) => d.id).sort());
      // Swept again: nothing left to sweep. The young step lists as its pass would list it.
      expect(await store.outbox.sweepUnlisted({ olderThanMs: 24 * 3_600_000, now })).toBe(0);
      await store.outbox.list([running]);
      expect(await pendingIds()).toEqual([...listedStep, ...youngStep].map((d) => d.id).sort());
      // The orphan's records are gone: listed late, they name nothing.
      await store.outbox.list([orphan]);
      expect(await pendingIds()).toEqual([...listedStep, ...youngStep].map((d) => d.id).sort());
      // With no grace at all, every record is listed now: nothing goes.
      expect(await store.outbox.sweepUnlisted({ olderThanMs: 0, now })).toBe(0);
      expect(await pendingIds()).toHaveLength(3);
    });

    it('loses no delivery when many enqueues for the same targets run at once', async () => {
      const a = await fresh();
      const b = second ? track(await second(a)) : a;
      const targets = ['400', '401', '402'].map(channel);
      const calls = Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? a : b).outbox.enqueue(
          targets.map((t) => delivery(t, `arxiv:${i}`)),
          { fresh: true },
        ),
      );
      expect((await Promise.all(calls)).flat()).toHaveLength(36);
      for (const t of targets) {
        const pending = await a.outbox.pending(targetKey(t));
        expect(pending.map((d) => d.paperId).sort()).toEqual(
          Array.from({ length: 12 }, (_, i) => `arxiv:${i}`).sort(),
        );
      }
      expect((await a.outbox.pendingTargets()).sort()).toEqual(['channel:400', 'channel:401', 'channel:402']);
    });

    it('keeps every index entry when connections take turns appending and pruning', async () => {
      // Each connection reuses the index values it wrote last only while no one else has written:
      // a stale copy would drop the other's entries on its next append.
      const a = await fresh();
      const b = second ? track(await second(a)) : a;
      const t = channel('600');
      const key = targetKey(t);
      const paperIds = async (s: Store) => (await s.outbox.pending(key)).map((d) => d.paperId).sort();
      await a.outbox.enqueue([delivery(t, 'arxiv:a1')], { fresh: true });
      await b.outbox.enqueue([delivery(t, 'arxiv:b1')], { fresh: true });
      await a.outbox.enqueue([delivery(t, 'arxiv:a2')], { fresh: true });
      expect(await paperIds(b)).toEqual(['arxiv:a1', 'arxiv:a2', 'arxiv:b1']);
      const a1 = (await b.outbox.pending(key)).find((d) => d.paperId === 'arxiv:a1');
      await b.outbox.markSent([a1?.id ?? ''], { messageId: 'm1', sentAt: '2026-11-22T12:00:00.000Z' });
      // Reading them prunes a1's settled record: an index write by b that a's next append must see.
      expect(await paperIds(b)).toEqual(['arxiv:a2', 'arxiv:b1']);
      await a.outbox.enqueue([delivery(t, 'arxiv:a3')], { fresh: true });
      await b.outbox.enqueue([delivery(t, 'arxiv:b2')], { fresh: true });
      await a.outbox.enqueue([delivery(t, 'arxiv:a4')], { fresh: true });
      expect(await paperIds(a)).toEqual(['arxiv:a2', 'arxiv:a3', 'arxiv:a4', 'arxiv:b1', 'arxiv:b2']);
      expect(await paperIds(b)).toEqual(['arxiv:a2', 'arxiv:a3', 'arxiv:a4', 'arxiv:b1', 'arxiv:b2']);
      expect((await a.outbox.stats()).pending).toBe(5);
    });

    if (second) {
      it('sees subscriptions written through another connection at once', async () => {
        const a = await fresh();
        const b = track(await second(a));
        const t = channel('500');
        await a.subscriptions.put(sub(t, 'multi-task'));
        expect((await b.subscriptions.list()).map((s) => s.query)).toEqual(['multi-task']);
        await a.subscriptions.put(sub(t, 'robot*'));
        expect((await b.subscriptions.list()).map((s) => s.query).sort()).toEqual(['multi-task', 'robot*']);
        await a.subscriptions.remove(subscriptionId(t, 'multi-task'));
        expect((await b.subscriptions.listByTarget('channel:500')).map((s) => s.query)).toEqual(['robot*']);
      });
    }

    it('keeps open batches until they are closed, across connections', async () => {
      const store = await fresh();
      const b: OutboxBatch = {
        id: 'digest1:1',
        targetKey: targetKey(channel('100')),
        deliveryIds: ['channel:100|arxiv:1'],
        nonce: 'pb0123456789abcdef',
        createdAt: '2026-11-22T12:00:00.000Z',
        seq: 1,
        channelId: '100',
        body: { embeds: [{ title: 'x' }], allowed_mentions: { parse: [] } },
      };
      await store.outbox.openBatch(b);
      await store.outbox.openBatch({ ...b, id: 'digest1:2', seq: 2, targetKey: 'user:7' });
      expect((await store.outbox.openBatches('channel:100')).map((x) => x.id)).toEqual(['digest1:1']);
      if (second) {
        const other = track(await second(store));
        expect(await other.outbox.openBatches()).toHaveLength(2);
        expect((await other.outbox.openBatches('channel:100'))[0]).toEqual(b);
      }
      await store.outbox.closeBatch('digest1:1');
      expect((await store.outbox.openBatches()).map((x) => x.id)).toEqual(['digest1:2']);
    });

    it('gives a lease to one owner at a time, renews it for that owner, and lets it expire', async () => {
      const store = await fresh();
      const c = store.coordination;
      expect(await c.acquire('tick:ingest:1', 'a', 60_000)).toBe(true);
      expect(await c.acquire('tick:ingest:1', 'b', 60_000)).toBe(false);
      expect(await c.acquire('tick:ingest:1', 'a', 60_000)).toBe(true);
      expect(await c.holder('tick:ingest:1')).toBe('a');
      await c.release('tick:ingest:1', 'b');
      expect(await c.holder('tick:ingest:1')).toBe('a');
      await c.release('tick:ingest:1', 'a');
      expect(await c.holder('tick:ingest:1')).toBeUndefined();
      expect(await c.acquire('short', 'a', 30)).toBe(true);
      await new Promise((r) => setTimeout(r, 80));
      expect(await c.acquire('short', 'b', 60_000)).toBe(true);
      expect(await c.holder('short')).toBe('b');
    });

    if (second) {
      it('lets exactly one of two connections win each contended lease', async () => {
        const a = await fresh();
        const b = track(await second(a));
        for (let round = 0; round < 25; round++) {
          const key = `claim:target:channel:${round}`;
          const results = await Promise.all([
            a.coordination.acquire(key, 'instance-a', 60_000),
            b.coordination.acquire(key, 'instance-b', 60_000),
            a.coordination.acquire(key, 'instance-c', 60_000),
            b.coordination.acquire(key, 'instance-d', 60_000),
          ]);
          expect(results.filter(Boolean)).toHaveLength(1);
        }
      });
    }
  });
}
