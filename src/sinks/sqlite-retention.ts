/**
 * Retention operations of the SQLite sink: bounded re-tag and hold updates,
 * the sweep, and the operator's persisted rules and holds.
 */
import type { Database } from 'better-sqlite3';
import type {
  RecordSelection, RetentionTag, StoredLegalHold, StoredRetentionRule, SweepResult,
} from './storage-sink.ts';
import { selectionConditions, storedHoldExists } from './sql-filters.ts';

function positional(): { params: unknown[]; param: (v: unknown) => string } {
  const params: unknown[] = [];
  return { params, param: (v) => { params.push(v); return '?'; } };
}

/** Runs `UPDATE ... WHERE rowid IN (... LIMIT n)` until nothing is left, so no statement locks long. */
function updateInBatches(db: Database, setSql: string, setParams: unknown[], selection: RecordSelection, differs: string, diffParams: unknown[], batchSize: number): number {
  const { params, param } = positional();
  const where = selectionConditions(selection, param);
  const sql = `UPDATE tiq_records SET ${setSql} WHERE rowid IN (SELECT rowid FROM tiq_records WHERE ${where.join(' AND ')} AND (${differs}) LIMIT ?)`;
  const statement = db.prepare(sql);
  let total = 0;
  for (;;) {
    const changes = statement.run(...setParams, ...params, ...diffParams, batchSize).changes;
    total += changes;
    if (changes < batchSize) return total;
  }
}

export function retagSqlite(db: Database, selection: RecordSelection, tag: RetentionTag, batchSize: number): number {
  return updateInBatches(
    db, 'retention_class = ?, expires_at_ms = received_at_ms + ?', [tag.retentionClass, tag.durationMs],
    selection, 'retention_class <> ? OR expires_at_ms <> received_at_ms + ?', [tag.retentionClass, tag.durationMs], batchSize,
  );
}

export function setHoldSqlite(db: Database, selection: RecordSelection, held: boolean, batchSize: number): number {
  const flag = held ? 1 : 0;
  return updateInBatches(db, 'legal_hold = ?', [flag], selection, 'legal_hold <> ?', [flag], batchSize);
}

export function sweepSqlite(db: Database, nowMs: number, batchSize: number): SweepResult {
  const statement = db.prepare(`DELETE FROM tiq_records WHERE rowid IN (
    SELECT rowid FROM tiq_records r WHERE r.expires_at_ms <= ? AND r.legal_hold = 0 AND NOT ${storedHoldExists('r', '1')} LIMIT ?)`);
  let deleted = 0;
  for (;;) {
    const changes = statement.run(nowMs, batchSize).changes;
    deleted += changes;
    if (changes < batchSize) return { deleted, partitionsDropped: 0 };
  }
}

export function putRuleSqlite(db: Database, r: StoredRetentionRule): void {
  db.prepare(`INSERT INTO tiq_retention_rules (tenant_id, stream, device_group, retention_class, days, changed_at_ms)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, stream, device_group)
    DO UPDATE SET retention_class = excluded.retention_class, days = excluded.days, changed_at_ms = excluded.changed_at_ms`)
    .run(r.tenantId, r.stream, r.deviceGroup, r.retentionClass, r.days, r.changedAtMs);
}

export function listRulesSqlite(db: Database): StoredRetentionRule[] {
  const rows = db.prepare('SELECT * FROM tiq_retention_rules ORDER BY tenant_id, stream, device_group').all() as Record<string, unknown>[];
  return rows.map((row) => ({
    tenantId: String(row.tenant_id), stream: String(row.stream), deviceGroup: String(row.device_group),
    retentionClass: String(row.retention_class), days: Number(row.days), changedAtMs: Number(row.changed_at_ms),
  }));
}

export function putHoldSqlite(db: Database, h: StoredLegalHold): void {
  db.prepare(`INSERT INTO tiq_legal_holds (tenant_id, device_id, held, changed_at_ms) VALUES (?, ?, ?, ?)
    ON CONFLICT (tenant_id, device_id) DO UPDATE SET held = excluded.held, changed_at_ms = excluded.changed_at_ms`)
    .run(h.tenantId, h.deviceId, h.held ? 1 : 0, h.changedAtMs);
}

export function listHoldsSqlite(db: Database): StoredLegalHold[] {
  const rows = db.prepare('SELECT * FROM tiq_legal_holds ORDER BY tenant_id, device_id').all() as Record<string, unknown>[];
  return rows.map((row) => ({
    tenantId: String(row.tenant_id), deviceId: String(row.device_id), held: row.held === 1, changedAtMs: Number(row.changed_at_ms),
  }));
}
