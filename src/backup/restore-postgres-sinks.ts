/**
 * Erasure re-applied to the PostgreSQL sinks at a restore. A sink brought
 * back with `pg_restore` (or point-in-time recovery) from before an erasure
 * holds the erased device's wrapped data keys and records again; they open
 * nothing (the device key they were wrapped under is gone from the vault),
 * but an erasure promises their removal, and data keys written before
 * device keys existed are wrapped by the tenant key alone.
 *
 * Only what predates each tombstone is deleted: the sink may be live (a
 * cluster's nodes share it), and a device keeps publishing after its
 * erasure under a new device key. PostgreSQL has no secure delete: the rows
 * stay as dead tuples until VACUUM (docs/scaling.md, "Limits").
 */
import pg from 'pg';
import type { ShredValue } from '../control/control-kinds.ts';
import { inTransaction } from '../control/pg-transaction.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';

/** Deletes, in every PostgreSQL sink, the data keys and records each tombstone erased; returns how many rows went. */
export async function reapplyErasurePg(config: GatewayConfig, tombstones: readonly ShredValue[]): Promise<number> {
  if (tombstones.length === 0) return 0;
  let deleted = 0;
  for (const sink of Object.values(resolveStorageConfig(config.storage).sinks)) {
    if (sink.type !== 'postgres') continue;
    const pool = new pg.Pool({ connectionString: sink.connectionString, max: 1 });
    pool.on('error', () => {});
    try {
      deleted += await inTransaction(pool, async (c) => {
        // A sink never started has no tables yet, hence nothing to erase.
        const { rows } = await c.query<{ t: string | null }>("SELECT to_regclass('tiq_data_keys')::text AS t");
        if (rows[0]?.t == null) return 0;
        let n = 0;
        for (const t of tombstones) n += await eraseBefore(c, t);
        return n;
      });
    } finally {
      await pool.end();
    }
  }
  return deleted;
}

async function eraseBefore(c: pg.PoolClient, t: ShredValue): Promise<number> {
  const args = [t.tenantId, t.deviceId, t.atMs];
  const keys = await c.query('DELETE FROM tiq_data_keys WHERE tenant_id = $1 AND device_id = $2 AND created_at_ms <= $3', args);
  // Their idempotency keys go with the records, so nothing of the device from before the erasure is left.
  const records = await c.query<{ n: string }>(`WITH gone AS (
      DELETE FROM tiq_records WHERE tenant_id = $1 AND device_id = $2 AND received_at_ms <= $3 RETURNING stream, sequence, content_digest),
    keys AS (
      DELETE FROM tiq_record_keys k USING gone g
      WHERE k.tenant_id = $1 AND k.device_id = $2 AND k.stream = g.stream AND k.sequence = g.sequence AND k.content_digest = g.content_digest RETURNING 1)
    SELECT (SELECT count(*) FROM gone) AS n`, args);
  return (keys.rowCount ?? 0) + Number(records.rows[0]?.n ?? 0);
}
