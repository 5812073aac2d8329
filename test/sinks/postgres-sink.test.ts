import pg from 'pg';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { BatchingWriter } from '../../src/sinks/batching-writer.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { DAY, T0, record } from './fixtures.ts';
import { settled, sleep } from './controlled-sink.ts';
import { sinkContract } from './sink-contract.ts';

// Re-bound with apply() in the durability test's spy.
const realQuery = pg.Client.prototype.query;
const available = await startTestPostgres({ own: true });

async function partitions(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ relname: string }>(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'tiq_records'::regclass ORDER BY 1`);
    return rows.map((r) => r.relname);
  } finally {
    await client.end();
  }
}

async function freshSink(server: TestPostgres): Promise<{ sink: PostgresSink; url: string }> {
  const url = await server.newDatabase();
  const sink = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 4 });
  await sink.start();
  return { sink, url };
}

if (!available.ok) {
  describe.skip(`PostgresSink (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  sinkContract('PostgresSink', async () => {
    const fresh = await freshSink(server);
    const url = fresh.url;
    let sink = fresh.sink;
    return {
      get sink() { return sink; },
      reopen: async () => {
        await sink.close();
        sink = new PostgresSink('eu', { connectionString: url, durability: 'process', poolSize: 4 });
        await sink.start();
        return sink;
      },
    };
  });

  describe('PostgresSink partitions and outages', () => {
    test('records land in daily expiry partitions; the sweep drops wholly expired, unheld days and row-deletes the rest', async () => {
      const { sink, url } = await freshSink(server);
      const dayA = [record({ expiresAtMs: T0 }), record({ expiresAtMs: T0 + 1000 })];
      const dayB = [record({ expiresAtMs: T0 + DAY }), record({ expiresAtMs: T0 + DAY, legalHold: true })];
      const live = record({ expiresAtMs: T0 + 50 * DAY });
      await sink.writeBatch([...dayA, ...dayB, live]);
      expect(await partitions(url)).toEqual(['tiq_records_d20300115', 'tiq_records_d20300116', 'tiq_records_d20300306']);
      const result = await sink.sweepExpired(T0 + 10 * DAY, 100);
      expect(result).toEqual({ deleted: 3, partitionsDropped: 1 });
      expect(await partitions(url)).toEqual(['tiq_records_d20300116', 'tiq_records_d20300306']);
      expect((await sink.queryRecords({ tenantId: 'acme' })).map((r) => r.recordId).sort()).toEqual([dayB[1]!.recordId, live.recordId].sort());
      // The dropped day's idempotency keys went with it; another sink instance that still believed the partition existed recovers.
      const other = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 2 });
      await other.start();
      await other.writeBatch([record({ expiresAtMs: T0 + 5 * DAY })]);
      await sink.sweepExpired(T0 + 10 * DAY, 100);
      expect((await other.writeBatch([{ ...dayA[0]!, recordId: crypto.randomUUID(), expiresAtMs: T0 + 5 * DAY }])).inserted).toBe(1);
      await other.close();
      await sink.close();
    });

    test('one statement of fixed text stores a batch past 65535 parameters (the default batch size) exactly once', async () => {
      const { sink } = await freshSink(server);
      const batch = Array.from({ length: 5000 }, (_, i) => record({ deviceId: `truck-${i % 7}`, sequence: 1_000_000 + i }));
      const first = await sink.writeBatch(batch);
      expect(first).toMatchObject({ inserted: 5000, duplicates: 0 });
      expect(first.outcomes.every((o) => o === 'inserted')).toBe(true);
      // A redelivery (new record ids, same keys) of the whole batch stores nothing new.
      const again = await sink.writeBatch(batch.map((r) => ({ ...r, recordId: crypto.randomUUID() })));
      expect(again).toMatchObject({ inserted: 0, duplicates: 5000 });
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(5000);
      await sink.close();
    }, 60_000);

    test('array parameters keep every byte of ids with quotes, backslashes, braces, commas and the text NULL', async () => {
      const { sink } = await freshSink(server);
      const odd = ['a"b', 'c\\d', '{e,f}', 'NULL', ' spaced ', 'é∆ü', '\\"'];
      const batch = odd.map((id, i) => record({ deviceId: id, stream: `s${id}`, policyId: id, retentionClass: id, dekId: id, kekRef: id, sequence: 500 + i }));
      expect((await sink.writeBatch(batch)).inserted).toBe(odd.length);
      const stored = await sink.queryRecords({ tenantId: 'acme', limit: 100 });
      expect(stored.map((r) => [r.deviceId, r.stream, r.policyId, r.retentionClass, r.dekId, r.kekRef]).sort())
        .toEqual(odd.map((id) => [id, `s${id}`, id, id, id, id]).sort());
      const byId = new Map(batch.map((r) => [r.recordId, r]));
      for (const r of stored) expect(r).toEqual(byId.get(r.recordId));
      await sink.close();
    });

    test('a record id twice in one batch, and a redelivery inside the batch, are stored once each', async () => {
      const { sink } = await freshSink(server);
      const a = record({ sequence: 900 });
      const redelivered = { ...a, recordId: crypto.randomUUID() };
      const b = record({ sequence: 901 });
      const result = await sink.writeBatch([a, redelivered, b, b]);
      expect(result).toEqual({ inserted: 2, duplicates: 2, outcomes: ['inserted', 'duplicate', 'inserted', 'duplicate'] });
      expect((await sink.queryRecords({ tenantId: 'acme' })).map((r) => r.recordId).sort()).toEqual([a.recordId, b.recordId].sort());
      await sink.close();
    });

    test('durability modes: each batch commits with synchronous_commit on (fsync) or off (process)', async () => {
      const { url } = await freshSink(server);
      const sent: string[] = [];
      const spy = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
        if (typeof args[0] === 'string') sent.push(args[0]);
        return (realQuery as (...a: unknown[]) => unknown).apply(this, args) as never;
      });
      try {
        for (const durability of ['fsync', 'process'] as const) {
          const sink = new PostgresSink('eu', { connectionString: url, durability, poolSize: 1 });
          await sink.start();
          sent.length = 0;
          await sink.writeBatch([record()]);
          expect(sent.filter((q) => q.includes('synchronous_commit'))).toEqual([`BEGIN; SET LOCAL synchronous_commit = ${durability === 'fsync' ? 'on' : 'off'}`]);
          await sink.close();
        }
      } finally {
        spy.mockRestore();
      }
    });

    test('PostgreSQL stopped mid-stream: no acknowledgements, bounded pending, full recovery, each record stored once', async () => {
      const { sink } = await freshSink(server);
      const writer = new BatchingWriter(sink, { maxBatchRecords: 5, maxBatchDelayMs: 2, maxPendingRecords: 20, retryInitialMs: 20, retryMaxMs: 200 });
      const before = Array.from({ length: 10 }, () => record());
      await Promise.all(before.map((r) => writer.write(r)));
      await server.stop();
      const during = Array.from({ length: 50 }, () => record());
      const writes = during.map((r) => writer.write(r));
      const state = settled(Promise.allSettled(writes));
      await sleep(800);
      expect(state.done).toBe(false);
      expect(writer.state).toMatchObject({ pending: 20, waiting: 30, healthy: false, backpressured: true, lastError: { code: 'TIQ_ERR_STORE_UNAVAILABLE' } });
      expect((await sink.health()).ok).toBe(false);
      await server.restart();
      expect(await Promise.all(writes)).toEqual(Array(50).fill('inserted'));
      expect(writer.state).toMatchObject({ pending: 0, healthy: true, backpressured: false });
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(60);
      // The device resends everything (it never got PUBACKs it cannot trust): all duplicates.
      const resent = await Promise.all([...before, ...during].map((r) => writer.write({ ...r, recordId: crypto.randomUUID() })));
      expect(resent.every((o) => o === 'duplicate')).toBe(true);
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(60);
      await writer.close();
      await sink.close();
    }, 60_000);
  });
}
