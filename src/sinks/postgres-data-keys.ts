/** The DataKeyStore half of the PostgreSQL sink: wrapped DEKs, deleted to crypto-shred a device. */
import type pg from 'pg';
import { TiqError } from '../errors.ts';
import type { WrappedDataKey } from '../keys/key-provider.ts';

function keyFromRow(row: Record<string, unknown>): WrappedDataKey {
  return {
    tenantId: String(row.tenant_id), dekId: String(row.dek_id), deviceId: String(row.device_id),
    kekRef: String(row.kek_ref), wrapped: Buffer.from(row.wrapped as Uint8Array), createdAtMs: Number(row.created_at_ms),
  };
}

export async function putDataKeyPg(pool: pg.Pool, key: WrappedDataKey): Promise<void> {
  await pool.query(`INSERT INTO tiq_data_keys (tenant_id, dek_id, device_id, kek_ref, wrapped, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (tenant_id, dek_id) DO UPDATE SET device_id = excluded.device_id, kek_ref = excluded.kek_ref, wrapped = excluded.wrapped`,
  [key.tenantId, key.dekId, key.deviceId, key.kekRef, key.wrapped, key.createdAtMs]);
}

/** Several keys in one statement (one commit). */
export async function putDataKeysPg(pool: pg.Pool, keys: readonly WrappedDataKey[]): Promise<void> {
  await pool.query(`INSERT INTO tiq_data_keys (tenant_id, dek_id, device_id, kek_ref, wrapped, created_at_ms)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bigint[])
    ON CONFLICT (tenant_id, dek_id) DO UPDATE SET device_id = excluded.device_id, kek_ref = excluded.kek_ref, wrapped = excluded.wrapped`,
  [keys.map((k) => k.tenantId), keys.map((k) => k.dekId), keys.map((k) => k.deviceId), keys.map((k) => k.kekRef), keys.map((k) => k.wrapped), keys.map((k) => k.createdAtMs)]);
}

export async function getDataKeyPg(pool: pg.Pool, tenantId: string, dekId: string): Promise<WrappedDataKey | undefined> {
  const { rows } = await pool.query('SELECT * FROM tiq_data_keys WHERE tenant_id = $1 AND dek_id = $2', [tenantId, dekId]);
  return rows[0] ? keyFromRow(rows[0] as Record<string, unknown>) : undefined;
}

export async function listDataKeysPg(pool: pg.Pool, tenantId: string,
  options: { deviceId?: string; afterDekId?: string; limit?: number }): Promise<WrappedDataKey[]> {
  const params: unknown[] = [tenantId];
  let sql = 'SELECT * FROM tiq_data_keys WHERE tenant_id = $1';
  if (options.deviceId !== undefined) { params.push(options.deviceId); sql += ` AND device_id = $${params.length}`; }
  if (options.afterDekId !== undefined) { params.push(options.afterDekId); sql += ` AND dek_id > $${params.length}`; }
  params.push(options.limit ?? 1000);
  sql += ` ORDER BY dek_id LIMIT $${params.length}`;
  const { rows } = await pool.query(sql, params);
  return rows.map((r) => keyFromRow(r as Record<string, unknown>));
}

export async function updateWrappedDataKeyPg(pool: pg.Pool, tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void> {
  const result = await pool.query('UPDATE tiq_data_keys SET wrapped = $1, kek_ref = $2 WHERE tenant_id = $3 AND dek_id = $4',
    [wrapped, kekRef, tenantId, dekId]);
  if (result.rowCount === 0) throw new TiqError('TIQ_ERR_KEY_SHREDDED', { tenantId, dekId });
}

export async function deleteDataKeysPg(pool: pg.Pool, tenantId: string, deviceId: string): Promise<string[]> {
  const { rows } = await pool.query<{ dek_id: string }>('DELETE FROM tiq_data_keys WHERE tenant_id = $1 AND device_id = $2 RETURNING dek_id',
    [tenantId, deviceId]);
  return rows.map((r) => r.dek_id).sort();
}
