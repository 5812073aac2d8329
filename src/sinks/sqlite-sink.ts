/**
 * The embedded default sink: one SQLite file in WAL mode (better-sqlite3).
 * Durability modes: see sqlite-open.ts.
 *
 * Record batches are committed by a writer thread with its own connection
 * (sqlite-worker.ts), so the INSERTs, the COMMIT and its fsync do not block
 * the event loop that serves MQTT; writeBatch still resolves only after the
 * COMMIT. Everything else (queries, data keys, retention) stays on this
 * thread's connection. An in-memory database cannot be shared between two
 * connections, so `:memory:` writes on this thread.
 */
import type { Database } from 'better-sqlite3';
import { TiqError } from '../errors.ts';
import type { WrappedDataKey } from '../keys/key-provider.ts';
import type { SealedRecord } from '../records/message.ts';
import { assertStorableRecord, recordToValues, rowToRecord } from './record-row.ts';
import { fromSqliteError } from './sink-errors.ts';
import type { Durability } from '../config/sinks-config.ts';
import { queryConditions, queryLimit } from './sql-filters.ts';
import { openSqliteDatabase, truncateWal } from './sqlite-open.ts';
import { SQLITE_INSERT_RECORD } from './sqlite-schema.ts';
import { SqliteWriterThread } from './sqlite-worker-client.ts';
import {
  listHoldsSqlite, listRulesSqlite, putHoldSqlite, putRuleSqlite, retagSqlite, setHoldSqlite, sweepSqlite,
} from './sqlite-retention.ts';
import type {
  RecordOutcome, RecordQuery, RecordSelection, RetentionTag, SinkHealth, StorageSink, StoredLegalHold,
  StoredRetentionRule, SweepResult, WriteResult,
} from './storage-sink.ts';

export interface SqliteSinkOptions {
  readonly path: string;
  readonly durability: Durability;
}

const INSERT_RECORD = SQLITE_INSERT_RECORD;

function toWriteResult(flags: Uint8Array): WriteResult {
  const outcomes = new Array<RecordOutcome>(flags.length);
  let inserted = 0;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === 1) inserted++;
    outcomes[i] = flags[i] === 1 ? 'inserted' : 'duplicate';
  }
  return { inserted, duplicates: flags.length - inserted, outcomes };
}

function keyFromRow(row: Record<string, unknown>): WrappedDataKey {
  return {
    tenantId: String(row.tenant_id), dekId: String(row.dek_id), deviceId: String(row.device_id),
    kekRef: String(row.kek_ref), wrapped: Buffer.from(row.wrapped as Uint8Array), createdAtMs: Number(row.created_at_ms),
  };
}

export class SqliteSink implements StorageSink {
  readonly type = 'sqlite';
  /** The writer thread commits batches in the order written, several per COMMIT when they wait (sqlite-worker.ts). */
  readonly pipelinedWrites = true;
  #db: Database | undefined;
  #writer: SqliteWriterThread | undefined;
  #writerStarting: Promise<SqliteWriterThread> | undefined;

  constructor(readonly name: string, private readonly options: SqliteSinkOptions) {}

  async start(): Promise<void> {
    if (this.#db) return;
    let db: Database | undefined;
    try {
      db = openSqliteDatabase({ ...this.options, createSchema: true });
      if (this.options.path !== ':memory:') this.#writer = await SqliteWriterThread.start(this.options);
      this.#db = db;
    } catch (err) {
      db?.close();
      throw fromSqliteError(err, this.name);
    }
  }

  async close(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.close();
    this.#db?.close();
    this.#db = undefined;
  }

  /** The writer thread, restarted if it died (the failed batch was rejected as retryable). */
  private writerThread(): SqliteWriterThread | Promise<SqliteWriterThread> {
    const writer = this.#writer;
    if (writer?.alive) return writer;
    this.#writerStarting ??= SqliteWriterThread.start(this.options).then(async (w) => {
      if (!this.#db) {
        // Closed while the thread was starting: it must not outlive the sink.
        await w.close();
        throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink: this.name, reason: 'not started' });
      }
      this.#writer = w;
      return w;
    }).finally(() => { this.#writerStarting = undefined; });
    return this.#writerStarting;
  }

  private get db(): Database {
    if (!this.#db) throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink: this.name, reason: 'not started' });
    return this.#db;
  }

  /** Runs fn against the open database, translating driver errors. */
  private run<T>(fn: (db: Database) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.db));
    } catch (err) {
      return Promise.reject(fromSqliteError(err, this.name));
    }
  }

  async health(): Promise<SinkHealth> {
    try {
      this.db.prepare('SELECT 1').get();
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: fromSqliteError(err, this.name).code };
    }
  }

  writeBatch(records: readonly SealedRecord[]): Promise<WriteResult> {
    if (this.#writer === undefined) return this.writeBatchHere(records);
    try {
      if (!this.#db) throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink: this.name, reason: 'not started' });
      for (const r of records) assertStorableRecord(r);
      const writer = this.writerThread();
      const written = writer instanceof Promise ? writer.then((w) => w.write(records)) : writer.write(records);
      return written.then(toWriteResult, (err: unknown) => { throw fromSqliteError(err, this.name); });
    } catch (err) {
      return Promise.reject(fromSqliteError(err, this.name));
    }
  }

  /** In-thread commit, for `:memory:`. */
  private writeBatchHere(records: readonly SealedRecord[]): Promise<WriteResult> {
    return this.run((db) => {
      const insert = db.prepare(INSERT_RECORD);
      // One transaction per batch: every record is committed or none is.
      const outcomes = db.transaction((batch: readonly SealedRecord[]) => batch.map((r): RecordOutcome => {
        assertStorableRecord(r);
        const values = recordToValues(r).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
        return insert.run(...values).changes === 1 ? 'inserted' : 'duplicate';
      }))(records);
      const inserted = outcomes.filter((o) => o === 'inserted').length;
      return { inserted, duplicates: outcomes.length - inserted, outcomes };
    });
  }

  queryRecords(query: RecordQuery): Promise<SealedRecord[]> {
    return this.run((db) => {
      const params: unknown[] = [];
      const where = queryConditions(query, (v) => { params.push(v); return '?'; });
      const sql = `SELECT * FROM tiq_records WHERE ${where.join(' AND ')} ORDER BY received_at_ms, record_id LIMIT ?`;
      return (db.prepare(sql).all(...params, queryLimit(query)) as Record<string, unknown>[]).map(rowToRecord);
    });
  }

  countRecords(query: RecordQuery): Promise<number> {
    return this.run((db) => {
      const params: unknown[] = [];
      const where = queryConditions(query, (v) => { params.push(v); return '?'; });
      const row = db.prepare(`SELECT count(*) AS n FROM tiq_records WHERE ${where.join(' AND ')}`).get(...params) as { n: number };
      return row.n;
    });
  }

  /** Erasure: the rows are zeroed (secure_delete) and the WAL truncated, so no copy stays in the files. */
  deleteDeviceRecords(tenantId: string, deviceId: string): Promise<number> {
    return this.run((db) => {
      const deleted = db.prepare('DELETE FROM tiq_records WHERE tenant_id = ? AND device_id = ?').run(tenantId, deviceId).changes;
      truncateWal(db, this.name);
      return deleted;
    });
  }

  putDataKey(key: WrappedDataKey): Promise<void> {
    return this.putDataKeys([key]);
  }

  /** One transaction, so one fsync, for a burst of new devices' keys. */
  putDataKeys(keys: readonly WrappedDataKey[]): Promise<void> {
    return this.run((db) => {
      const put = db.prepare(`INSERT INTO tiq_data_keys (tenant_id, dek_id, device_id, kek_ref, wrapped, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant_id, dek_id) DO UPDATE SET device_id = excluded.device_id, kek_ref = excluded.kek_ref, wrapped = excluded.wrapped`);
      db.transaction(() => {
        for (const key of keys) put.run(key.tenantId, key.dekId, key.deviceId, key.kekRef, key.wrapped, key.createdAtMs);
      })();
    });
  }

  getDataKey(tenantId: string, dekId: string): Promise<WrappedDataKey | undefined> {
    return this.run((db) => {
      const row = db.prepare('SELECT * FROM tiq_data_keys WHERE tenant_id = ? AND dek_id = ?').get(tenantId, dekId) as Record<string, unknown> | undefined;
      return row ? keyFromRow(row) : undefined;
    });
  }

  listDataKeys(tenantId: string, options: { deviceId?: string; afterDekId?: string; limit?: number } = {}): Promise<WrappedDataKey[]> {
    return this.run((db) => {
      const params: unknown[] = [tenantId];
      let sql = 'SELECT * FROM tiq_data_keys WHERE tenant_id = ?';
      if (options.deviceId !== undefined) { sql += ' AND device_id = ?'; params.push(options.deviceId); }
      if (options.afterDekId !== undefined) { sql += ' AND dek_id > ?'; params.push(options.afterDekId); }
      sql += ' ORDER BY dek_id LIMIT ?';
      params.push(options.limit ?? 1000);
      return (db.prepare(sql).all(...params) as Record<string, unknown>[]).map(keyFromRow);
    });
  }

  updateWrappedDataKey(tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void> {
    return this.run((db) => {
      const changes = db.prepare('UPDATE tiq_data_keys SET wrapped = ?, kek_ref = ? WHERE tenant_id = ? AND dek_id = ?')
        .run(wrapped, kekRef, tenantId, dekId).changes;
      if (changes === 0) throw new TiqError('TIQ_ERR_KEY_SHREDDED', { tenantId, dekId });
    });
  }

  deleteDataKeys(tenantId: string, deviceId: string): Promise<string[]> {
    return this.run((db) => {
      const rows = db.prepare('DELETE FROM tiq_data_keys WHERE tenant_id = ? AND device_id = ? RETURNING dek_id').all(tenantId, deviceId) as { dek_id: string }[];
      // Like erased records: no copy of a destroyed wrapped key stays in the -wal file.
      truncateWal(db, this.name);
      return rows.map((r) => r.dek_id).sort();
    });
  }

  retagRecords(selection: RecordSelection, tag: RetentionTag, batchSize: number): Promise<number> {
    return this.run((db) => retagSqlite(db, selection, tag, batchSize));
  }

  setRecordsLegalHold(selection: RecordSelection, held: boolean, batchSize: number): Promise<number> {
    return this.run((db) => setHoldSqlite(db, selection, held, batchSize));
  }

  sweepExpired(nowMs: number, batchSize: number): Promise<SweepResult> {
    return this.run((db) => sweepSqlite(db, nowMs, batchSize));
  }

  putRetentionRule(rule: StoredRetentionRule): Promise<void> { return this.run((db) => putRuleSqlite(db, rule)); }
  listRetentionRules(): Promise<StoredRetentionRule[]> { return this.run(listRulesSqlite); }
  putLegalHold(hold: StoredLegalHold): Promise<void> { return this.run((db) => putHoldSqlite(db, hold)); }
  listLegalHolds(): Promise<StoredLegalHold[]> { return this.run(listHoldsSqlite); }
}
