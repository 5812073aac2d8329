/**
 * Databases made before the content digest joined the idempotency key are
 * migrated when a sink opens them: stored records survive unchanged, a new
 * message reusing an old sequence number is stored, a redelivery is not.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import type { SealedRecord } from '../../src/records/message.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { DAY_MS, dayOf, partitionName } from '../../src/sinks/postgres-schema.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import type { StorageSink } from '../../src/sinks/storage-sink.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { record } from './fixtures.ts';
import { PG_V1_RECORDS, SQLITE_V1_RECORDS, SQLITE_V2_RECORDS, V1_COLUMNS } from './v1-schema.ts';
import { RECORD_COLUMNS, recordToValues } from '../../src/sinks/record-row.ts';

function v1Values(r: SealedRecord): unknown[] {
  return [r.tenantId, r.deviceId, r.stream, r.recordId, r.sequence, r.deviceTimeMs, r.receivedAtMs, r.formatVersion,
    r.dekId, r.kekRef, r.iv, r.ciphertext, r.tag, r.encoding, r.policyId, r.policyVersion, r.retentionClass, r.expiresAtMs, r.legalHold];
}

/** What every migrated sink must do with the records an old gateway stored. */
async function expectMigrated(sink: StorageSink, old: SealedRecord[]): Promise<void> {
  const byId = (a: SealedRecord, b: SealedRecord) => a.recordId.localeCompare(b.recordId);
  const stored = (await sink.queryRecords({ tenantId: 'acme', limit: 100 })).sort(byId);
  expect(stored).toEqual(old.map((r) => ({ ...r, contentDigest: Buffer.alloc(0) })).sort(byId));
  // The device rebooted: sequence 1 again, with new content.
  const afterReboot = record({ sequence: old[0]!.sequence, contentDigest: Buffer.alloc(16, 7) });
  expect((await sink.writeBatch([afterReboot])).outcomes).toEqual(['inserted']);
  const resent = record({ sequence: old[0]!.sequence, contentDigest: Buffer.alloc(16, 7) });
  expect((await sink.writeBatch([resent])).outcomes).toEqual(['duplicate']);
  expect(await sink.countRecords({ tenantId: 'acme' })).toBe(old.length + 1);
}

describe('SQLite: schema version 1 to 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiq-migrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('rebuilds the records table with the digest in the key, keeping every stored record', async () => {
    const path = join(dir, 'old.db');
    const old = [record({ sequence: 1 }), record({ sequence: 2 })];
    const db = new Database(path);
    db.exec(SQLITE_V1_RECORDS);
    const insert = db.prepare(`INSERT INTO tiq_records (${V1_COLUMNS.join(', ')}) VALUES (${V1_COLUMNS.map(() => '?').join(', ')})`);
    for (const r of old) insert.run(...v1Values(r).map((v) => (typeof v === 'boolean' ? Number(v) : v)));
    db.close();

    const sink = new SqliteSink('default', { path, durability: 'fsync' });
    await sink.start();
    try {
      await expectMigrated(sink, old);
    } finally {
      await sink.close();
    }
    const after = new Database(path, { readonly: true });
    const indexes = (after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tiq_records' AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name);
    expect(after.pragma('user_version', { simple: true })).toBe(3);
    after.close();
    expect(indexes.sort()).toEqual(['tiq_records_by_expiry', 'tiq_records_by_time']);

    // Opening a migrated database again changes nothing.
    const again = new SqliteSink('default', { path, durability: 'fsync' });
    await again.start();
    expect(await again.countRecords({ tenantId: 'acme' })).toBe(old.length + 1);
    await again.close();
  });
});

/** The indexes SQLite keeps for tiq_records, declared or implied by a constraint (sqlite_autoindex_*). */
function recordIndexes(path: string): { name: string; columns: string[] }[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('PRAGMA index_list(tiq_records)').all() as { name: string }[]).map((ix) => ({
      name: ix.name,
      columns: (db.prepare(`PRAGMA index_info(${JSON.stringify(ix.name)})`).all() as { name: string }[]).map((c) => c.name),
    }));
  } finally {
    db.close();
  }
}

describe('SQLite: schema version 2 to 3', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiq-migrate3-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('drops the record_id index, keeping every record, the digest and idempotency', async () => {
    const path = join(dir, 'v2.db');
    const old = [record({ sequence: 1, contentDigest: Buffer.alloc(16, 1) }), record({ sequence: 2, contentDigest: Buffer.alloc(16, 2) })];
    const db = new Database(path);
    db.exec(SQLITE_V2_RECORDS);
    const insert = db.prepare(`INSERT INTO tiq_records (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map(() => '?').join(', ')})`);
    for (const r of old) insert.run(...recordToValues(r).map((v) => (typeof v === 'boolean' ? Number(v) : v)));
    db.close();
    expect(recordIndexes(path).some((ix) => ix.columns.join() === 'record_id')).toBe(true);

    const sink = new SqliteSink('default', { path, durability: 'fsync' });
    await sink.start();
    try {
      const byId = (a: SealedRecord, b: SealedRecord) => a.recordId.localeCompare(b.recordId);
      expect((await sink.queryRecords({ tenantId: 'acme', limit: 100 })).sort(byId)).toEqual([...old].sort(byId));
      // A redelivery of a stored record is still refused by the idempotency key; new content is stored.
      expect((await sink.writeBatch([{ ...old[0]!, recordId: record().recordId }])).outcomes).toEqual(['duplicate']);
      expect((await sink.writeBatch([record({ sequence: 1, contentDigest: Buffer.alloc(16, 9) })])).outcomes).toEqual(['inserted']);
      expect(await sink.countRecords({ tenantId: 'acme' })).toBe(old.length + 1);
    } finally {
      await sink.close();
    }
    const indexes = recordIndexes(path);
    expect(indexes.map((ix) => ix.columns.join()).sort()).toEqual([
      'expires_at_ms', 'tenant_id,device_id,stream,sequence,content_digest', 'tenant_id,received_at_ms,record_id',
    ]);
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(3);
    after.close();
  });
});

const available = await startTestPostgres();
if (!available.ok) {
  describe.skip(`PostgreSQL: schema version 1 to 2 (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  describe('PostgreSQL: schema version 1 to 2', () => {
    test('adds the digest to records and keys and to the key table\'s primary key, keeping every stored record', async () => {
      const url = await server.newDatabase();
      const old = [record({ sequence: 1 }), record({ sequence: 2 })];
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(PG_V1_RECORDS);
        const day = dayOf(old[0]!.expiresAtMs);
        await client.query(`CREATE TABLE ${partitionName(day)} PARTITION OF tiq_records FOR VALUES FROM (${day * DAY_MS}) TO (${(day + 1) * DAY_MS})`);
        for (const r of old) {
          await client.query(`INSERT INTO tiq_records (${V1_COLUMNS.join(', ')}) VALUES (${V1_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, v1Values(r));
          await client.query('INSERT INTO tiq_record_keys VALUES ($1, $2, $3, $4, $5)', [r.tenantId, r.deviceId, r.stream, r.sequence, r.recordId]);
        }
      } finally {
        await client.end();
      }

      const sink = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 2 });
      await sink.start();
      try {
        await expectMigrated(sink, old);
      } finally {
        await sink.close();
      }
      // A second start (another gateway, the CLI) finds nothing to migrate.
      const again = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 2 });
      await again.start();
      expect(await again.countRecords({ tenantId: 'acme' })).toBe(old.length + 1);
      await again.close();
    });
  });
}
