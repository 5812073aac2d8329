/**
 * README promise ("Answer an access request", GDPR Art. 15 and 20): the
 * device's records, all of them. The export pages by (receivedAt, recordId);
 * an adversarial store has many records received in the same millisecond,
 * across page boundaries, interleaved with another device's: every record
 * of the device must come out exactly once, none of the other's. Real SQLite.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRecords } from '../../src/sinks/record-export.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { decodeJson, openRecord, sealJson, T0 } from './fixtures.ts';

describe('an access export is complete', () => {
  let sink: SqliteSink;
  const mine: string[] = [];

  beforeAll(async () => {
    sink = new SqliteSink('default', { path: join(mkdtempSync(join(tmpdir(), 'tiq-export-')), 'thingiq.db'), durability: 'fsync' });
    await sink.start();
    const batch = [];
    for (let i = 0; i < 60; i++) {
      // Three receive times only: most page boundaries fall inside a run of equal times.
      const receivedAtMs = T0 + Math.floor(i / 25);
      const own = sealJson({ i }, { deviceId: 'truck-1', sequence: i, receivedAtMs, stream: i % 2 ? 'sensor' : 'location' });
      mine.push(own.recordId);
      batch.push(own, sealJson({ i }, { deviceId: 'truck-2', sequence: i, receivedAtMs }));
    }
    await sink.writeBatch(batch);
  });
  afterAll(async () => { await sink.close(); });

  for (const pageSize of [1, 4, 7, 25, 500]) {
    it(`pages of ${pageSize}: every record of the device once, no other device's`, async () => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const n = await exportRecords(sink, { tenantId: 'acme', deviceId: 'truck-1' }, out, { format: 'ndjson', openRecord, decode: decodeJson, pageSize });
      const rows = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { recordId: string; deviceId: string });
      expect(n).toBe(60);
      expect(rows.every((r) => r.deviceId === 'truck-1')).toBe(true);
      expect(rows.map((r) => r.recordId).sort()).toEqual([...mine].sort());
    });
  }
});
