/**
 * The production sink: PostgreSQL through a pg pool, records partitioned by
 * day of expiry (postgres-schema.ts).
 *
 * Durability (https://www.postgresql.org/docs/current/wal-async-commit.html):
 * `fsync` commits with synchronous_commit=on: the commit returns after the WAL
 * is flushed, so a committed batch survives power loss (given the server's
 * own fsync=on). `process` commits with synchronous_commit=off: the commit
 * returns before the WAL flush; the gateway process may crash safely, but a
 * crash of the PostgreSQL server or host can lose the last ~3×wal_writer_delay
 * (600 ms by default) of acknowledged batches. The database stays consistent.
 */
import pg from 'pg';
import { TiqError } from '../errors.ts';
import { inTransaction } from '../control/pg-transaction.ts';
import type { WrappedDataKey } from '../keys/key-provider.ts';
import type { SealedRecord } from '../records/message.ts';
import {
  deleteDataKeysPg, getDataKeyPg, listDataKeysPg, putDataKeyPg, putDataKeysPg, updateWrappedDataKeyPg,
} from './postgres-data-keys.ts';
import { PartitionManager, isMissingPartition } from './postgres-partitions.ts';
import {
  listHoldsPg, listRulesPg, putHoldPg, putRulePg, retagPg, setHoldPg, sweepPg,
} from './postgres-retention.ts';
import { DDL_LOCK_KEY, PG_MIGRATIONS, PG_SCHEMA } from './postgres-schema.ts';
import { assertStorableRecord, rowToRecord } from './record-row.ts';
import { INSERT_BATCH_NAME, INSERT_BATCH_SQL, batchColumns } from './postgres-insert.ts';
import { fromPgError } from './sink-errors.ts';
import type { Durability } from '../config/sinks-config.ts';
import { queryConditions, queryLimit } from './sql-filters.ts';
import type {
  RecordOutcome, RecordQuery, RecordSelection, RetentionTag, SinkHealth, StorageSink, StoredLegalHold,
  StoredRetentionRule, SweepResult, WriteResult,
} from './storage-sink.ts';

export interface PostgresSinkOptions {
  readonly connectionString: string;
  readonly durability: Durability;
  readonly poolSize: number;
}

export class PostgresSink implements StorageSink {
  readonly type = 'postgres';
  #pool: pg.Pool | undefined;
  #partitions: PartitionManager | undefined;

  constructor(readonly name: string, private readonly options: PostgresSinkOptions) {}

  async start(): Promise<void> {
    if (this.#pool) return;
    const pool = new pg.Pool({ connectionString: this.options.connectionString, max: this.options.poolSize, connectionTimeoutMillis: 5000 });
    // An idle client losing its connection must not crash the gateway; the next query reports it.
    pool.on('error', () => {});
    try {
      await inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK_KEY]);
        await client.query(PG_SCHEMA);
        await client.query(PG_MIGRATIONS);
      });
    } catch (err) {
      await pool.end().catch(() => {});
      throw fromPgError(err, this.name);
    }
    this.#pool = pool;
    this.#partitions = new PartitionManager(pool);
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }

  private get pool(): pg.Pool {
    if (!this.#pool) throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink: this.name, reason: 'not started' });
    return this.#pool;
  }

  private get partitions(): PartitionManager {
    if (!this.#partitions) throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink: this.name, reason: 'not started' });
    return this.#partitions;
  }

  private async run<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (err) {
      throw fromPgError(err, this.name);
    }
  }

  async health(): Promise<SinkHealth> {
    try {
      await this.pool.query('SELECT 1');
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: fromPgError(err, this.name).code };
    }
  }

  async writeBatch(records: readonly SealedRecord[]): Promise<WriteResult> {
    if (records.length === 0) return { inserted: 0, duplicates: 0, outcomes: [] };
    return this.run(async () => {
      for (const r of records) assertStorableRecord(r);
      // A sweeper in another process may drop a partition we believed existed: forget and retry.
      for (let attempt = 0; ; attempt++) {
        await this.partitions.ensureFor(records.map((r) => r.expiresAtMs));
        try {
          return await this.insertBatch(records);
        } catch (err) {
          if (!isMissingPartition(err) || attempt >= 2) throw err;
          this.partitions.forget();
        }
      }
    });
  }

  /**
   * One transaction, one statement (postgres-insert.ts): claim the
   * idempotency keys, insert the records whose key was new.
   */
  private async insertBatch(records: readonly SealedRecord[]): Promise<WriteResult> {
    const unique = uniqueRecordIds(records);
    const inserted = await inTransaction(this.pool,
      (client) => client.query<{ record_id: string }>({ name: INSERT_BATCH_NAME, text: INSERT_BATCH_SQL, values: batchColumns(unique) }),
      `BEGIN; SET LOCAL synchronous_commit = ${this.options.durability === 'fsync' ? 'on' : 'off'}`);
    const fresh = new Set(inserted.rows.map((r) => r.record_id));
    // A redelivery inside the same batch carries a different record id, so at most one copy is fresh.
    const outcomes = records.map((r): RecordOutcome => (fresh.delete(r.recordId) ? 'inserted' : 'duplicate'));
    return { inserted: inserted.rows.length, duplicates: records.length - inserted.rows.length, outcomes };
  }

  queryRecords(query: RecordQuery): Promise<SealedRecord[]> {
    return this.run(async (pool) => {
      const params: unknown[] = [];
      const where = queryConditions(query, (v) => { params.push(v); return `$${params.length}`; });
      params.push(queryLimit(query));
      const { rows } = await pool.query(`SELECT * FROM tiq_records WHERE ${where.join(' AND ')}
        ORDER BY received_at_ms, record_id LIMIT $${params.length}`, params);
      return rows.map((r) => rowToRecord(r as Record<string, unknown>));
    });
  }

  countRecords(query: RecordQuery): Promise<number> {
    return this.run(async (pool) => {
      const params: unknown[] = [];
      const where = queryConditions(query, (v) => { params.push(v); return `$${params.length}`; });
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tiq_records WHERE ${where.join(' AND ')}`, params);
      return rows[0]?.n ?? 0;
    });
  }

  putDataKey(key: WrappedDataKey): Promise<void> { return this.run((p) => putDataKeyPg(p, key)); }
  putDataKeys(keys: readonly WrappedDataKey[]): Promise<void> { return this.run((p) => putDataKeysPg(p, keys)); }
  getDataKey(tenantId: string, dekId: string): Promise<WrappedDataKey | undefined> { return this.run((p) => getDataKeyPg(p, tenantId, dekId)); }
  deleteDeviceRecords(tenantId: string, deviceId: string): Promise<number> {
    return this.run(async (pool) => {
      return inTransaction(pool, async (client) => {
        const res = await client.query('DELETE FROM tiq_records WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
        await client.query('DELETE FROM tiq_record_keys WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
        return res.rowCount ?? 0;
      });
    });
  }

  listDataKeys(tenantId: string, options: { deviceId?: string; afterDekId?: string; limit?: number } = {}): Promise<WrappedDataKey[]> {
    return this.run((p) => listDataKeysPg(p, tenantId, options));
  }
  updateWrappedDataKey(tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void> {
    return this.run((p) => updateWrappedDataKeyPg(p, tenantId, dekId, wrapped, kekRef));
  }
  deleteDataKeys(tenantId: string, deviceId: string): Promise<string[]> { return this.run((p) => deleteDataKeysPg(p, tenantId, deviceId)); }

  retagRecords(selection: RecordSelection, tag: RetentionTag, batchSize: number): Promise<number> {
    return this.run((p) => retagPg(p, this.partitions, selection, tag, batchSize));
  }
  setRecordsLegalHold(selection: RecordSelection, held: boolean, batchSize: number): Promise<number> {
    return this.run((p) => setHoldPg(p, selection, held, batchSize));
  }
  sweepExpired(nowMs: number, batchSize: number): Promise<SweepResult> {
    return this.run((p) => sweepPg(p, this.partitions, nowMs, batchSize));
  }
  putRetentionRule(rule: StoredRetentionRule): Promise<void> { return this.run((p) => putRulePg(p, rule)); }
  listRetentionRules(): Promise<StoredRetentionRule[]> { return this.run(listRulesPg); }
  putLegalHold(hold: StoredLegalHold): Promise<void> { return this.run((p) => putHoldPg(p, hold)); }
  listLegalHolds(): Promise<StoredLegalHold[]> { return this.run(listHoldsPg); }
}

/** The batch without a second copy of any record id (the statement joins on it), in order. */
function uniqueRecordIds(records: readonly SealedRecord[]): readonly SealedRecord[] {
  const seen = new Set<string>();
  for (const r of records) seen.add(r.recordId);
  if (seen.size === records.length) return records;
  seen.clear();
  return records.filter((r) => !seen.has(r.recordId) && seen.add(r.recordId));
}
