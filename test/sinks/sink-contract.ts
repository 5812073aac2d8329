/**
 * The one contract every StorageSink passes (SQLite and PostgreSQL).
 * Each test gets a fresh, empty store.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { isTiqError } from '../../src/errors.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { exportRecords } from '../../src/sinks/record-export.ts';
import type { StorageSink } from '../../src/sinks/storage-sink.ts';
import { DAY, T0, decodeJson, openRecord, record, sealJson } from './fixtures.ts';

export interface SinkUnderTest {
  readonly sink: StorageSink;
  /** Closes and opens a new sink on the same storage. */
  reopen(): Promise<StorageSink>;
}

export type MakeSink = () => Promise<SinkUnderTest>;

async function withSink(make: MakeSink, fn: (s: SinkUnderTest) => Promise<void>): Promise<void> {
  const s = await make();
  try {
    await fn(s);
  } finally {
    await s.sink.close();
  }
}

async function readAll(sink: StorageSink, tenantId = 'acme'): Promise<SealedRecord[]> {
  return sink.queryRecords({ tenantId, limit: 10_000 });
}

export function sinkContract(label: string, make: MakeSink): void {
  describe(`StorageSink contract: ${label}`, () => {
    test('stores every field of a sealed record and reads it back unchanged', () => withSink(make, async ({ sink }) => {
      const r = record({ legalHold: true, encoding: 'protobuf' });
      expect(await sink.writeBatch([r])).toEqual({ inserted: 1, duplicates: 0, outcomes: ['inserted'] });
      expect(await readAll(sink)).toEqual([r]);
      expect((await sink.health()).ok).toBe(true);
    }));

    test('a redelivery (same tenant, device, stream, sequence) is stored once, across and within batches', () => withSink(make, async ({ sink }) => {
      const first = record({ sequence: 7 });
      await sink.writeBatch([first]);
      const again = record({ sequence: 7 });
      const other = record({ sequence: 7, stream: 'sensor' });
      const result = await sink.writeBatch([again, other, record({ sequence: 7, stream: 'sensor' })]);
      expect(result).toEqual({ inserted: 1, duplicates: 2, outcomes: ['duplicate', 'inserted', 'duplicate'] });
      const stored = await readAll(sink);
      expect(stored.map((s) => s.recordId).sort()).toEqual([first.recordId, other.recordId].sort());
    }));

    test('a new message that reuses a sequence number (counter restarted) is stored, never taken for a redelivery', () => withSink(make, async ({ sink }) => {
      const beforeReboot = record({ sequence: 1, contentDigest: Buffer.alloc(16, 1) });
      await sink.writeBatch([beforeReboot]);
      const afterReboot = record({ sequence: 1, contentDigest: Buffer.alloc(16, 2) });
      const resent = record({ sequence: 1, contentDigest: Buffer.alloc(16, 2) });
      const result = await sink.writeBatch([afterReboot, resent]);
      expect(result).toEqual({ inserted: 1, duplicates: 1, outcomes: ['inserted', 'duplicate'] });
      expect((await readAll(sink)).map((r) => r.recordId).sort()).toEqual([beforeReboot.recordId, afterReboot.recordId].sort());
    }));

    test('a batch with a bad record writes nothing, and its good records can be written afterwards', () => withSink(make, async ({ sink }) => {
      const good = [record(), record()];
      const bad = record({ tag: Buffer.alloc(3) });
      const err = await sink.writeBatch([...good, bad]).catch((e: unknown) => e);
      expect(isTiqError(err) && err.code).toBe('TIQ_ERR_INTERNAL');
      expect(isTiqError(err) && err.retryable && err.code === 'TIQ_ERR_STORE_UNAVAILABLE').toBe(false);
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(0);
      expect((await sink.writeBatch(good)).inserted).toBe(2);
    }));

    test('data keys: put, get, list with filters and keyset, re-wrap, delete (crypto-shred)', () => withSink(make, async ({ sink }) => {
      const key = (dekId: string, deviceId: string) => ({ dekId, tenantId: 'acme', deviceId, kekRef: 'local:acme:v1', wrapped: Buffer.from(dekId), createdAtMs: T0 });
      for (const k of [key('dek-b', 'd1'), key('dek-a', 'd1'), key('dek-c', 'd2'), { ...key('dek-a', 'd9'), tenantId: 'other' }]) await sink.putDataKey(k);
      expect(await sink.getDataKey('acme', 'dek-a')).toEqual(key('dek-a', 'd1'));
      expect(await sink.getDataKey('acme', 'nope')).toBeUndefined();
      expect((await sink.listDataKeys('acme')).map((k) => k.dekId)).toEqual(['dek-a', 'dek-b', 'dek-c']);
      expect((await sink.listDataKeys('acme', { deviceId: 'd1' })).map((k) => k.dekId)).toEqual(['dek-a', 'dek-b']);
      expect((await sink.listDataKeys('acme', { afterDekId: 'dek-a', limit: 1 })).map((k) => k.dekId)).toEqual(['dek-b']);
      await sink.updateWrappedDataKey('acme', 'dek-b', Buffer.from('rewrapped'), 'local:acme:v2');
      expect(await sink.getDataKey('acme', 'dek-b')).toMatchObject({ wrapped: Buffer.from('rewrapped'), kekRef: 'local:acme:v2' });
      await expect(sink.updateWrappedDataKey('acme', 'gone', Buffer.alloc(1), 'x')).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
      expect(await sink.deleteDataKeys('acme', 'd1')).toEqual(['dek-a', 'dek-b']);
      expect(await sink.getDataKey('acme', 'dek-a')).toBeUndefined();
      expect((await sink.listDataKeys('acme')).map((k) => k.dekId)).toEqual(['dek-c']);
      expect(await sink.getDataKey('other', 'dek-a')).toBeDefined();
    }));

    test('data keys in one batch (a burst of new devices): all stored as put one by one would, across tenants', () => withSink(make, async ({ sink }) => {
      const key = (tenantId: string, dekId: string, deviceId: string) => ({ dekId, tenantId, deviceId, kekRef: `device:${tenantId}:${deviceId}:1`, wrapped: Buffer.from(`w-${dekId}`), createdAtMs: T0 + dekId.length });
      const keys = Array.from({ length: 50 }, (_, i) => key(i % 2 ? 'acme' : 'other', `dek-${String(i).padStart(2, '0')}`, `d${i}`));
      await sink.putDataKeys!(keys);
      for (const k of keys) expect(await sink.getDataKey(k.tenantId, k.dekId)).toEqual(k);
      expect(await sink.listDataKeys('acme')).toHaveLength(25);
      // Re-putting a key (a retried batch) rewrites it, as putDataKey does.
      await sink.putDataKeys!([{ ...keys[1]!, wrapped: Buffer.from('again') }]);
      expect((await sink.getDataKey('acme', keys[1]!.dekId))?.wrapped).toEqual(Buffer.from('again'));
    }));

    test('erasure deletes every record of one device and nothing else; the sequence may be reused afterwards', () => withSink(make, async ({ sink }) => {
      await sink.writeBatch([record({ deviceId: 'd1', sequence: 1 }), record({ deviceId: 'd1', sequence: 2 }), record({ deviceId: 'd2', sequence: 1 }), record({ tenantId: 'other', deviceId: 'd1', sequence: 1 })]);
      expect(await sink.deleteDeviceRecords('acme', 'd1')).toBe(2);
      expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'd1' })).toBe(0);
      expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'd2' })).toBe(1);
      expect(await sink.countRecords({ tenantId: 'other' })).toBe(1);
      expect((await sink.writeBatch([record({ deviceId: 'd1', sequence: 1 })])).inserted).toBe(1);
    }));

    test('queries filter by device, stream and time, page by keyset, and never cross tenants', () => withSink(make, async ({ sink }) => {
      const all: SealedRecord[] = [];
      for (let i = 0; i < 25; i++) {
        // Pairs share a receivedAtMs so the recordId tie-break is exercised.
        all.push(record({ deviceId: i % 2 ? 'truck-1' : 'truck-2', stream: i % 3 ? 'location' : 'sensor', receivedAtMs: T0 + Math.floor(i / 2) * 1000 }));
      }
      await sink.writeBatch(all);
      await sink.writeBatch([record({ tenantId: 'other' })]);
      const expected = [...all].sort((a, b) => a.receivedAtMs - b.receivedAtMs || (a.recordId < b.recordId ? -1 : 1));
      const paged: SealedRecord[] = [];
      let after: { receivedAtMs: number; recordId: string } | undefined;
      for (;;) {
        const page = await sink.queryRecords({ tenantId: 'acme', after, limit: 7 });
        paged.push(...page);
        const last = page.at(-1);
        if (!last) break;
        after = { receivedAtMs: last.receivedAtMs, recordId: last.recordId };
      }
      expect(paged.map((r) => r.recordId)).toEqual(expected.map((r) => r.recordId));
      const q = { tenantId: 'acme', deviceId: 'truck-1', stream: 'location', fromMs: T0 + 2000, toMs: T0 + 9000 };
      const want = expected.filter((r) => r.deviceId === 'truck-1' && r.stream === 'location' && r.receivedAtMs >= q.fromMs && r.receivedAtMs < q.toMs);
      expect(want.length).toBeGreaterThan(1);
      expect((await sink.queryRecords(q)).map((r) => r.recordId)).toEqual(want.map((r) => r.recordId));
      expect(await sink.countRecords(q)).toBe(want.length);
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(25);
      expect(await sink.countRecords({ tenantId: 'other' })).toBe(1);
    }));

    test('re-tagging changes class and expiry (received + duration) of the selection only, in bounded batches', () => withSink(make, async ({ sink }) => {
      const loc = Array.from({ length: 10 }, (_, i) => record({ deviceId: i < 7 ? 'truck-1' : 'truck-9', receivedAtMs: T0 + i * DAY }));
      const sensor = record({ stream: 'sensor', retentionClass: 'sensor-365d', expiresAtMs: T0 + 365 * DAY });
      await sink.writeBatch([...loc, sensor]);
      const tag = { retentionClass: 'location-7d', durationMs: 7 * DAY };
      const changed = await sink.retagRecords({ tenantId: 'acme', stream: 'location', excludeDeviceIds: ['truck-9'] }, tag, 3);
      expect(changed).toBe(7);
      expect(await sink.retagRecords({ tenantId: 'acme', stream: 'location', excludeDeviceIds: ['truck-9'] }, tag, 3)).toBe(0);
      const stored = new Map((await readAll(sink)).map((r) => [r.recordId, r]));
      for (const r of loc.slice(0, 7)) expect(stored.get(r.recordId)).toMatchObject({ retentionClass: 'location-7d', expiresAtMs: r.receivedAtMs + 7 * DAY });
      for (const r of loc.slice(7)) expect(stored.get(r.recordId)).toMatchObject({ retentionClass: 'location-30d', expiresAtMs: r.expiresAtMs });
      expect(stored.get(sensor.recordId)).toMatchObject({ retentionClass: 'sensor-365d' });
    }));

    test('the sweeper deletes expired records only, never held ones (flag or stored hold), and reports counts', () => withSink(make, async ({ sink }) => {
      const now = T0 + 100 * DAY;
      const expired = Array.from({ length: 5 }, (_, i) => record({ expiresAtMs: T0 + i * DAY }));
      const flagged = record({ expiresAtMs: T0, legalHold: true });
      const heldDevice = record({ deviceId: 'truck-7', expiresAtMs: T0 });
      const live = record({ expiresAtMs: now + DAY });
      await sink.writeBatch([...expired, flagged, heldDevice, live]);
      await sink.putLegalHold({ tenantId: 'acme', deviceId: 'truck-7', held: true, changedAtMs: now });
      const result = await sink.sweepExpired(now, 2);
      expect(result.deleted).toBe(5);
      expect((await readAll(sink)).map((r) => r.recordId).sort()).toEqual([flagged.recordId, heldDevice.recordId, live.recordId].sort());
      await sink.putLegalHold({ tenantId: 'acme', deviceId: 'truck-7', held: false, changedAtMs: now + 1 });
      expect(await sink.setRecordsLegalHold({ tenantId: 'acme', deviceIds: [flagged.deviceId] }, false, 10)).toBe(1);
      expect((await sink.sweepExpired(now, 100)).deleted).toBe(2);
      expect((await readAll(sink)).map((r) => r.recordId)).toEqual([live.recordId]);
      // The idempotency key went with the record: the same message arriving again is a new record.
      expect((await sink.writeBatch([{ ...expired[0]!, recordId: crypto.randomUUID(), expiresAtMs: now + DAY }])).inserted).toBe(1);
    }));

    test('legal hold flags follow the selection (tenant, devices, exclusions)', () => withSink(make, async ({ sink }) => {
      await sink.writeBatch([record({ deviceId: 'a' }), record({ deviceId: 'b' }), record({ deviceId: 'c' }), record({ tenantId: 'other', deviceId: 'a' })]);
      expect(await sink.setRecordsLegalHold({ tenantId: 'acme', excludeDeviceIds: ['c'] }, true, 1)).toBe(2);
      const held = (await readAll(sink)).filter((r) => r.legalHold).map((r) => r.deviceId).sort();
      expect(held).toEqual(['a', 'b']);
      expect((await readAll(sink, 'other'))[0]?.legalHold).toBe(false);
    }));

    test('operator rules and holds persist across a restart and upsert by key', () => withSink(make, async (s) => {
      await s.sink.putRetentionRule({ tenantId: 'acme', stream: 'location', deviceGroup: '', retentionClass: 'location-30d', days: 30, changedAtMs: 1 });
      await s.sink.putRetentionRule({ tenantId: 'acme', stream: 'location', deviceGroup: '', retentionClass: 'location-7d', days: 7, changedAtMs: 2 });
      await s.sink.putRetentionRule({ tenantId: 'acme', stream: 'location', deviceGroup: 'eu-fleet', retentionClass: 'location-1d', days: 1, changedAtMs: 3 });
      await s.sink.putLegalHold({ tenantId: 'acme', deviceId: '', held: true, changedAtMs: 4 });
      const sink = await s.reopen();
      expect(await sink.listRetentionRules()).toEqual([
        { tenantId: 'acme', stream: 'location', deviceGroup: '', retentionClass: 'location-7d', days: 7, changedAtMs: 2 },
        { tenantId: 'acme', stream: 'location', deviceGroup: 'eu-fleet', retentionClass: 'location-1d', days: 1, changedAtMs: 3 },
      ]);
      expect(await sink.listLegalHolds()).toEqual([{ tenantId: 'acme', deviceId: '', held: true, changedAtMs: 4 }]);
    }));

    test('export decrypts with the injected opener and writes NDJSON and CSV', () => withSink(make, async ({ sink }) => {
      const rs = [sealJson({ lat: 1.5, note: 'a,"b"' }, { receivedAtMs: T0 }), sealJson({ temp: 21 }, { receivedAtMs: T0 + 1, stream: 'sensor' })];
      await sink.writeBatch([...rs, record({ deviceId: 'truck-2' })]);
      const run = async (format: 'ndjson' | 'csv') => {
        const out = new PassThrough();
        const chunks: Buffer[] = [];
        out.on('data', (c: Buffer) => chunks.push(c));
        const progress: number[] = [];
        const n = await exportRecords(sink, { tenantId: 'acme', deviceId: 'truck-1' }, out, {
          format, openRecord, decode: decodeJson, pageSize: 1, onProgress: (done) => progress.push(done),
        });
        return { n, text: Buffer.concat(chunks).toString('utf8'), progress };
      };
      const nd = await run('ndjson');
      expect(nd.n).toBe(2);
      expect(nd.progress.at(-1)).toBe(2);
      const lines = nd.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.data)).toEqual([{ lat: 1.5, note: 'a,"b"' }, { temp: 21 }]);
      expect(lines[0]).toMatchObject({ recordId: rs[0]!.recordId, receivedAt: new Date(T0).toISOString(), retentionClass: 'location-30d' });
      const csv = await run('csv');
      const rows = csv.text.split('\r\n');
      expect(rows[0]).toBe('tenantId,deviceId,stream,recordId,sequence,deviceTime,receivedAt,policyId,policyVersion,retentionClass,expiresAt,legalHold,data');
      expect(rows[1]).toContain(`,"{""lat"":1.5,""note"":""a,\\""b\\""""}"`);
      expect(rows.filter((r) => r !== '')).toHaveLength(3);
    }));
  });
}
