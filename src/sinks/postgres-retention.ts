/**
 * Retention operations of the PostgreSQL sink: bounded re-tag and hold
 * updates, the sweep (whole partitions first, then rows), and the operator's
 * persisted rules and holds.
 */
import type pg from 'pg';
import type { PartitionManager } from './postgres-partitions.ts';
import { isMissingPartition } from './postgres-partitions.ts';
import { selectionConditions, storedHoldExists } from './sql-filters.ts';
import type {
  RecordSelection, RetentionTag, StoredLegalHold, StoredRetentionRule, SweepResult,
} from './storage-sink.ts';

function numbered(): { params: unknown[]; param: (v: unknown) => string } {
  const params: unknown[] = [];
  return { params, param: (v) => { params.push(v); return `$${params.length}`; } };
}

/** `UPDATE ... WHERE record_id IN (... LIMIT n)` until nothing is left, so no statement locks long. */
async function updateInBatches(pool: pg.Pool, selection: RecordSelection, set: (p: (v: unknown) => string) => string,
  differs: (p: (v: unknown) => string) => string, batchSize: number): Promise<number> {
  const { params, param } = numbered();
  const setSql = set(param);
  const where = [...selectionConditions(selection, param), `(${differs(param)})`];
  const sql = `UPDATE tiq_records SET ${setSql} WHERE record_id IN (SELECT record_id FROM tiq_records WHERE ${where.join(' AND ')} LIMIT ${param(batchSize)})`;
  let total = 0;
  for (;;) {
    const changes = (await pool.query(sql, params)).rowCount ?? 0;
    total += changes;
    if (changes < batchSize) return total;
  }
}

export async function retagPg(pool: pg.Pool, partitions: PartitionManager, selection: RecordSelection, tag: RetentionTag, batchSize: number): Promise<number> {
  const { params, param } = numbered();
  const range = await pool.query<{ lo: string | null; hi: string | null }>(
    `SELECT min(received_at_ms) AS lo, max(received_at_ms) AS hi FROM tiq_records WHERE ${selectionConditions(selection, param).join(' AND ')}`, params);
  const { lo, hi } = range.rows[0] ?? { lo: null, hi: null };
  if (lo === null || hi === null) return 0;
  const retag = () => updateInBatches(pool, selection,
    (p) => `retention_class = ${p(tag.retentionClass)}, expires_at_ms = received_at_ms + ${p(tag.durationMs)}`,
    (p) => `retention_class <> ${p(tag.retentionClass)} OR expires_at_ms <> received_at_ms + ${p(tag.durationMs)}`, batchSize);
  // Moving a row to a new expiry moves it to that day's partition, which must exist.
  for (let attempt = 0; ; attempt++) {
    await partitions.ensureRange(Number(lo) + tag.durationMs, Number(hi) + tag.durationMs);
    try {
      return await retag();
    } catch (err) {
      if (!isMissingPartition(err) || attempt >= 2) throw err;
      partitions.forget();
    }
  }
}

export function setHoldPg(pool: pg.Pool, selection: RecordSelection, held: boolean, batchSize: number): Promise<number> {
  return updateInBatches(pool, selection, (p) => `legal_hold = ${p(held)}`, (p) => `legal_hold <> ${p(held)}`, batchSize);
}

export async function sweepPg(pool: pg.Pool, partitions: PartitionManager, nowMs: number, batchSize: number): Promise<SweepResult> {
  let deleted = 0;
  let partitionsDropped = 0;
  for (const { name, day } of await partitions.list()) {
    const rows = await partitions.dropIfExpired(name, day, nowMs);
    if (rows !== undefined) { deleted += rows; partitionsDropped++; }
  }
  const sql = `WITH d AS (DELETE FROM tiq_records WHERE expires_at_ms <= $1 AND record_id IN (
      SELECT record_id FROM tiq_records r WHERE r.expires_at_ms <= $1 AND NOT r.legal_hold AND NOT ${storedHoldExists('r', 'true')} LIMIT $2)
    RETURNING tenant_id, device_id, stream, sequence, content_digest),
    k AS (DELETE FROM tiq_record_keys k USING d WHERE k.tenant_id = d.tenant_id AND k.device_id = d.device_id
      AND k.stream = d.stream AND k.sequence = d.sequence AND k.content_digest = d.content_digest)
    SELECT count(*)::int AS n FROM d`;
  for (;;) {
    const n = (await pool.query<{ n: number }>(sql, [nowMs, batchSize])).rows[0]?.n ?? 0;
    deleted += n;
    if (n < batchSize) return { deleted, partitionsDropped };
  }
}

export async function putRulePg(pool: pg.Pool, r: StoredRetentionRule): Promise<void> {
  await pool.query(`INSERT INTO tiq_retention_rules (tenant_id, stream, device_group, retention_class, days, changed_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, stream, device_group)
    DO UPDATE SET retention_class = excluded.retention_class, days = excluded.days, changed_at_ms = excluded.changed_at_ms`,
  [r.tenantId, r.stream, r.deviceGroup, r.retentionClass, r.days, r.changedAtMs]);
}

export async function listRulesPg(pool: pg.Pool): Promise<StoredRetentionRule[]> {
  const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM tiq_retention_rules ORDER BY tenant_id, stream, device_group');
  return rows.map((row) => ({
    tenantId: String(row.tenant_id), stream: String(row.stream), deviceGroup: String(row.device_group),
    retentionClass: String(row.retention_class), days: Number(row.days), changedAtMs: Number(row.changed_at_ms),
  }));
}

export async function putHoldPg(pool: pg.Pool, h: StoredLegalHold): Promise<void> {
  await pool.query(`INSERT INTO tiq_legal_holds (tenant_id, device_id, held, changed_at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (tenant_id, device_id) DO UPDATE SET held = excluded.held, changed_at_ms = excluded.changed_at_ms`,
  [h.tenantId, h.deviceId, h.held, h.changedAtMs]);
}

export async function listHoldsPg(pool: pg.Pool): Promise<StoredLegalHold[]> {
  const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM tiq_legal_holds ORDER BY tenant_id, device_id');
  return rows.map((row) => ({
    tenantId: String(row.tenant_id), deviceId: String(row.device_id), held: row.held === true, changedAtMs: Number(row.changed_at_ms),
  }));
}
