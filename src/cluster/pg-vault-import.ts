/**
 * A single gateway's device key vault moved into the shared one when the
 * gateway joins a cluster (src/cluster/vault-import.ts), in one transaction
 * and idempotently: tombstones first (insert if absent), then each KEK with
 * its generation unless a tombstone postdates it or the shared vault has
 * seen that generation (tombstones win over KEKs), then every device's last
 * generation (the greater kept), so no generation is ever made twice.
 */
import type pg from 'pg';
import type { DeviceGeneration, StoredDeviceKek, VaultTombstone } from '../keys/device-key-vault.ts';

/** What a single gateway's vault file holds, to be moved into the shared vault. */
export interface VaultImport {
  readonly keks: readonly StoredDeviceKek[];
  readonly generations: readonly DeviceGeneration[];
  readonly tombstones: readonly VaultTombstone[];
}

/** Each KEK of an import, by what became of it. */
export interface VaultImportResult {
  /** Stored in the shared vault now. */
  readonly imported: StoredDeviceKek[];
  /** Already there, the same generation and wrapping (an import run before). */
  readonly present: StoredDeviceKek[];
  /** Not stored: a tombstone of the device postdates it, or its generation was destroyed in the shared vault. */
  readonly erased: StoredDeviceKek[];
  /** Not stored: the shared vault holds another live KEK for the device. */
  readonly conflicts: StoredDeviceKek[];
  /** Tombstones new to the shared vault. */
  readonly tombstones: number;
}

export async function importVaultRows(c: pg.PoolClient, v: VaultImport): Promise<VaultImportResult> {
  const out = { imported: [] as StoredDeviceKek[], present: [] as StoredDeviceKek[], erased: [] as StoredDeviceKek[], conflicts: [] as StoredDeviceKek[], tombstones: 0 };
  for (const t of v.tombstones) {
    const r = await c.query(`INSERT INTO tiq_device_tombstones (receipt_id, tenant_id, device_id, kek_refs, destroyed_at_ms) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (receipt_id) DO NOTHING`, [t.receiptId, t.tenantId, t.deviceId, JSON.stringify(t.kekRefs), t.destroyedAtMs]);
    out.tombstones += r.rowCount ?? 0;
  }
  // Devices in one order on every node (the vault's own lock order: no deadlock with a node making KEKs).
  const ordered = [...v.keks].sort((x, y) => (x.tenantId === y.tenantId ? cmp(x.deviceId, y.deviceId) : cmp(x.tenantId, y.tenantId)));
  for (const k of ordered) out[await importOne(c, k)].push(k);
  for (const g of v.generations) {
    await c.query(`INSERT INTO tiq_device_generations (tenant_id, device_id, last_generation) VALUES ($1, $2, $3)
      ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_generation = GREATEST(tiq_device_generations.last_generation, excluded.last_generation)`,
    [g.tenantId, g.deviceId, g.lastGeneration]);
  }
  return out;
}

async function importOne(c: pg.PoolClient, k: StoredDeviceKek): Promise<'imported' | 'present' | 'erased' | 'conflicts'> {
  const key = [k.tenantId, k.deviceId];
  await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', key);
  const live = await c.query<{ generation: number; wrapped: Buffer }>('SELECT generation, wrapped FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', key);
  const shared = live.rows[0];
  if (shared) return Number(shared.generation) === k.generation && Buffer.from(shared.wrapped).equals(k.wrapped) ? 'present' : 'conflicts';
  const seen = await c.query(`SELECT 1 FROM tiq_device_generations WHERE tenant_id = $1 AND device_id = $2 AND last_generation >= $3
    UNION ALL SELECT 1 FROM tiq_device_tombstones WHERE tenant_id = $1 AND device_id = $2 AND destroyed_at_ms >= $4`, [...key, k.generation, k.createdAtMs]);
  if (seen.rows.length > 0) return 'erased';
  await c.query(`INSERT INTO tiq_device_generations (tenant_id, device_id, last_generation) VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_generation = excluded.last_generation`, [...key, k.generation]);
  await c.query('INSERT INTO tiq_device_keks (tenant_id, device_id, generation, wrapped, tenant_kek_ref, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)',
    [...key, k.generation, k.wrapped, k.tenantKekRef, k.createdAtMs]);
  return 'imported';
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
