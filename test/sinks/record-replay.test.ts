/**
 * The replay cursor against real sinks (SQLite file, embedded PostgreSQL):
 * while records keep arriving, many in the same millisecond and committed
 * out of time order, the pages a client chains read every record exactly
 * once, in keyset order. fast-check drives arrivals, commits, clock steps
 * and page reads; the horizon is computed as the gateway computes it
 * (replayHorizon over the records not yet committed).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { newRecordId } from '../../src/pipeline/record-id.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import type { StorageSink } from '../../src/sinks/storage-sink.ts';
import {
  cursorAt, decodeCursor, encodeCursor, replayHorizon, replayPage, type ReplayCursor, type ReplaySource,
} from '../../src/admin/record-replay.ts';
import { isTiqError, TiqError } from '../../src/errors.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { decodeJson, openRecord, record, T0 } from './fixtures.ts';

type Op =
  | { kind: 'receive'; device: number }
  | { kind: 'commit'; pick: number[] }
  | { kind: 'tick'; ms: number }
  | { kind: 'read'; limit: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('receive' as const), device: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.array(fc.nat(50), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), limit: fc.integer({ min: 1, max: 4 }) }) },
);

/** One client chaining pages while the simulated gateway receives and commits; returns the ids it read, in order. */
async function simulate(sink: StorageSink, tenantId: string, ops: readonly Op[], settleMs: number, stepMs: number): Promise<{ read: string[]; stored: SealedRecord[] }> {
  let now = T0;
  const pending: SealedRecord[] = [];
  const stored: SealedRecord[] = [];
  const read: string[] = [];
  let cursor: ReplayCursor = cursorAt(0);
  let sequence = 1;
  const src: ReplaySource = {
    sink: () => sink, openRecord, decode: decodeJson,
    horizon: replayHorizon({
      now: () => now, settleMs, timeStepMs: () => stepMs,
      oldestPending: () => (pending.length ? Math.min(...pending.map((r) => r.receivedAtMs)) : undefined),
    }),
  };
  const readPage = async (limit: number) => {
    const lines: string[] = [];
    const page = await replayPage(src, { tenantId, start: cursor, limit, mayRead: () => true }, async (l) => { lines.push(l); });
    for (const l of lines) read.push((JSON.parse(l) as { recordId: string }).recordId);
    cursor = page.next;
    return page;
  };
  const commit = async (batch: SealedRecord[]) => {
    if (batch.length === 0) return;
    await sink.writeBatch(batch);
    stored.push(...batch);
  };
  for (const op of ops) {
    if (op.kind === 'receive') {
      // The policy's time step floors the stored time; the id is made from the floored time, as the pipeline does.
      const receivedAtMs = Math.floor(now / stepMs) * stepMs;
      pending.push(record({ tenantId, deviceId: `d-${op.device}`, sequence: sequence++, receivedAtMs, recordId: newRecordId(receivedAtMs) }));
    } else if (op.kind === 'commit') {
      // Commits in any order: a record whose encryption waited on the key provider lands after later ones.
      const picked = [...new Set(op.pick.filter((i) => i < pending.length))].sort((a, b) => b - a);
      await commit(picked.map((i) => pending.splice(i, 1)[0]!));
    } else if (op.kind === 'tick') {
      now += op.ms;
    } else {
      await readPage(op.limit);
    }
  }
  await commit(pending.splice(0));
  now += settleMs + stepMs + 1;
  for (let i = 0; i < 1000 && (await readPage(3)).more; i++) { /* drain */ }
  return { read, stored };
}

function keysetOrder(records: SealedRecord[]): string[] {
  return [...records].sort((a, b) => a.receivedAtMs - b.receivedAtMs || (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0)).map((r) => r.recordId);
}

function replaySuite(name: string, open: () => Promise<StorageSink>, runs: number): void {
  describe(`replay cursor on ${name}`, () => {
    let sink: StorageSink;
    let n = 0;
    afterAll(async () => { await sink?.close(); });

    test('chained pages read every record once, in keyset order, while same-millisecond records commit out of order', async () => {
      sink = await open();
      await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), fc.constantFrom(1, 5), async (ops, stepMs) => {
        const { read, stored } = await simulate(sink, `t-${n++}`, ops, 0, stepMs);
        expect(read).toEqual(keysetOrder(stored));
      }), { numRuns: runs });
    }, 120_000);

    test('a page never passes a record of its millisecond that is still on its way', async () => {
      const tenantId = `explicit-${n++}`;
      const ms = T0 + 5000;
      const ids = Array.from({ length: 6 }, () => newRecordId(ms)).sort();
      // The largest ids commit first; the smallest, received in the same millisecond, are still pending.
      const late = [ids[0]!, ids[1]!];
      await sink.writeBatch(ids.slice(2).map((recordId, i) => record({ tenantId, recordId, receivedAtMs: ms, sequence: i + 1 })));
      let pending: number | undefined = ms;
      const src: ReplaySource = {
        sink: () => sink, openRecord, decode: decodeJson,
        horizon: replayHorizon({ now: () => ms + 10_000, settleMs: 0, timeStepMs: () => 0, oldestPending: () => pending }),
      };
      const seen: string[] = [];
      const emit = async (l: string) => { seen.push((JSON.parse(l) as { recordId: string }).recordId); };
      const first = await replayPage(src, { tenantId, start: cursorAt(0), limit: 2, mayRead: () => true }, emit);
      expect(first.count).toBe(0);
      expect(first.more).toBe(false);
      await sink.writeBatch(late.map((recordId, i) => record({ tenantId, recordId, receivedAtMs: ms, sequence: 100 + i })));
      pending = undefined;
      let cursor = first.next;
      for (;;) {
        const page = await replayPage(src, { tenantId, start: cursor, limit: 2, mayRead: () => true }, emit);
        cursor = page.next;
        if (!page.more) break;
      }
      expect(seen).toEqual(ids);
    });

    test('hidden records advance the cursor; a destroyed key skips its record; a cursor survives its encoding', async () => {
      const tenantId = `hidden-${n++}`;
      const rs = [1, 2, 3, 4].map((i) => record({ tenantId, deviceId: i % 2 ? 'odd' : 'even', sequence: i, receivedAtMs: T0 + i, recordId: newRecordId(T0 + i) }));
      await sink.writeBatch(rs);
      const shredded = rs[2]!.recordId;
      const src: ReplaySource = {
        sink: () => sink, decode: decodeJson, horizon: () => T0 + 100,
        openRecord: async (r) => {
          if (r.recordId === shredded) throw new TiqError('TIQ_ERR_KEY_SHREDDED');
          return openRecord(r);
        },
      };
      const seen: string[] = [];
      const page = await replayPage(src, { tenantId, start: cursorAt(0), limit: 10, mayRead: (d) => d === 'odd' }, async (l) => { seen.push((JSON.parse(l) as { recordId: string }).recordId); });
      expect(seen).toEqual([rs[0]!.recordId]);
      expect(page.next).toEqual({ receivedAtMs: rs[3]!.receivedAtMs, recordId: rs[3]!.recordId });
      expect(decodeCursor(encodeCursor(page.next))).toEqual(page.next);
      for (const bad of ['', 'c1.', 'c1.!!', 'x1.MTIz', `c1.${Buffer.from('abc.def').toString('base64url')}`, `c1.${Buffer.from('1.ZZ').toString('base64url')}`]) {
        let code: string | undefined;
        try { decodeCursor(bad); } catch (err) { code = isTiqError(err) ? err.code : 'other'; }
        expect(code).toBe('TIQ_ERR_BAD_REQUEST');
      }
    });
  });
}

replaySuite('SQLite', async () => {
  const s = new SqliteSink('default', { path: join(mkdtempSync(join(tmpdir(), 'thingiq-replay-')), 'replay.db'), durability: 'process' });
  await s.start();
  return s;
}, 60);

const available = await startTestPostgres({ own: true });
if (available.ok) {
  afterAll(() => available.pg.close());
  replaySuite('PostgreSQL', async () => {
    const s = new PostgresSink('pg', { connectionString: await available.pg.newDatabase(), durability: 'process', poolSize: 2 });
    await s.start();
    return s;
  }, 25);
} else {
  describe.skip(`replay cursor on PostgreSQL (${available.reason})`, () => { test('skipped', () => {}); });
}
