/**
 * WHERE clauses shared by both sinks. `param` adds a bound value and returns
 * its placeholder (`?` for SQLite, `$n` for PostgreSQL); nothing from the
 * caller is ever spliced into SQL text.
 */
import type { RecordQuery, RecordSelection } from './storage-sink.ts';

export type Param = (value: unknown) => string;

export function queryConditions(q: RecordQuery, param: Param): string[] {
  const where = [`tenant_id = ${param(q.tenantId)}`];
  if (q.deviceId !== undefined) where.push(`device_id = ${param(q.deviceId)}`);
  if (q.stream !== undefined) where.push(`stream = ${param(q.stream)}`);
  if (q.fromMs !== undefined) where.push(`received_at_ms >= ${param(q.fromMs)}`);
  if (q.toMs !== undefined) where.push(`received_at_ms < ${param(q.toMs)}`);
  if (q.after) {
    // A placeholder per use: SQLite's `?` binds positionally.
    const { receivedAtMs, recordId } = q.after;
    where.push(`(received_at_ms > ${param(receivedAtMs)} OR (received_at_ms = ${param(receivedAtMs)} AND record_id > ${param(recordId)}))`);
    // Implied by the line above, but a range the planner can seek to: without it each page walks the
    // time index from the tenant's first record (docs/storage.md, "Replay").
    where.push(`received_at_ms >= ${param(receivedAtMs)}`);
  }
  return where;
}

export function selectionConditions(s: RecordSelection, param: Param): string[] {
  const where = [`tenant_id = ${param(s.tenantId)}`];
  if (s.stream !== undefined) where.push(`stream = ${param(s.stream)}`);
  if (s.deviceIds !== undefined) where.push(inList('device_id', s.deviceIds, param, false));
  if (s.excludeDeviceIds !== undefined && s.excludeDeviceIds.length > 0) where.push(inList('device_id', s.excludeDeviceIds, param, true));
  return where;
}

function inList(column: string, values: readonly string[], param: Param, negate: boolean): string {
  if (values.length === 0) return negate ? 'TRUE' : 'FALSE';
  return `${column} ${negate ? 'NOT IN' : 'IN'} (${values.map((v) => param(v)).join(', ')})`;
}

/** A record is protected by a stored hold on its tenant ('' device) or its device. */
export function storedHoldExists(recordAlias: string, heldValue: string): string {
  return `EXISTS (SELECT 1 FROM tiq_legal_holds h WHERE h.held = ${heldValue} AND h.tenant_id = ${recordAlias}.tenant_id`
    + ` AND (h.device_id = '' OR h.device_id = ${recordAlias}.device_id))`;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;

export function queryLimit(q: RecordQuery): number {
  return Math.min(Math.max(1, q.limit ?? DEFAULT_QUERY_LIMIT), MAX_QUERY_LIMIT);
}
