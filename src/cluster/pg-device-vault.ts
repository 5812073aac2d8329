/**
 * The device key vault in cluster mode: device KEKs in PostgreSQL, shared by
 * every node, so a device's data keys made on one node open on any other
 * (replay, exports, access requests, rotation), and a shred on one node
 * destroys the one KEK there is. The same contract as the SQLite vault
 * (src/keys/device-key-vault.ts): one live KEK per device, a new generation
 * after erasure, tombstones without key material.
 *
 * Racing nodes: a device's KEK is made under a transaction-scoped advisory
 * lock of that device (taken in device order, so two nodes' batches never
 * deadlock), after checking none is live: two nodes making a KEK for the
 * same device at once end with one, both use it, and generations stay
 * consecutive.
 *
 * Erasure: PostgreSQL has no secure_delete. The deleted row lingers as a
 * dead tuple (and in WAL segments) until VACUUM and WAL recycling; it is a
 * device KEK wrapped under the tenant's KEK, so it opens nothing without
 * that KEK. Each destroy is followed by a VACUUM of the table
 * (docs/scaling.md, "Erasure in cluster mode").
 */
import pg from 'pg';
import { TiqError } from '../errors.ts';
import { inTransaction } from '../control/pg-transaction.ts';
import {
  deviceKekRef, parseDeviceKekRef, type DestroyRequest, type DeviceKekStore, type NewDeviceKek, type StoredDeviceKek, type VaultTombstone,
} from '../keys/device-key-vault.ts';
import { importVaultRows, type VaultImport, type VaultImportResult } from './pg-vault-import.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tiq_device_keks (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  generation integer NOT NULL,
  wrapped bytea NOT NULL,
  tenant_kek_ref text NOT NULL,
  created_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS tiq_device_generations (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  last_generation integer NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS tiq_device_tombstones (
  receipt_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  kek_refs text NOT NULL,
  destroyed_at_ms bigint NOT NULL
);`;

/** Serialises the schema creation of nodes starting together. */
const SCHEMA_LOCK = 0x7469_7176;

interface KekRow { tenant_id: string; device_id: string; generation: number; wrapped: Buffer; tenant_kek_ref: string; created_at_ms: string | number }

function fromRow(r: KekRow): StoredDeviceKek {
  return {
    tenantId: r.tenant_id, deviceId: r.device_id, generation: Number(r.generation),
    kekRef: deviceKekRef(r.tenant_id, r.device_id, Number(r.generation)),
    wrapped: Buffer.from(r.wrapped), tenantKekRef: r.tenant_kek_ref, createdAtMs: Number(r.created_at_ms),
  };
}

export class PgDeviceKeyVault implements DeviceKekStore {
  private constructor(private readonly pool: pg.Pool, private readonly log?: { warn(fields: Record<string, unknown>, message: string): void }) {}

  static async open(connectionString: string, log?: { warn(fields: Record<string, unknown>, message: string): void }): Promise<PgDeviceKeyVault> {
    const pool = new pg.Pool({ connectionString, max: 4 });
    // An idle client's error (the server restarting) must not crash the process; the next query reconnects.
    pool.on('error', (err) => log?.warn({ event: 'device_vault_connection_lost', code: 'TIQ_ERR_KEY_UNAVAILABLE', reason: err.message }, 'device key vault connection lost'));
    try {
      await inTransaction(pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      });
    } catch (err) {
      await pool.end();
      throw unavailable(err);
    }
    return new PgDeviceKeyVault(pool, log);
  }

  async get(tenantId: string, deviceId: string): Promise<StoredDeviceKek | undefined> {
    const { rows } = await this.#query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async getByRef(kekRef: string): Promise<StoredDeviceKek | undefined> {
    const ref = parseDeviceKekRef(kekRef);
    if (!ref) return undefined;
    const kek = await this.get(ref.tenantId, ref.deviceId);
    return kek?.generation === ref.generation ? kek : undefined;
  }

  async insertManyIfAbsent(rows: readonly NewDeviceKek[]): Promise<StoredDeviceKek[]> {
    try {
      return await inTransaction(this.pool, async (c) => {
        const out = new Map<NewDeviceKek, StoredDeviceKek>();
        // One lock per device, taken in one order on every node (no deadlock between two nodes' batches).
        const ordered = [...rows].sort((x, y) => (x.tenantId === y.tenantId ? cmp(x.deviceId, y.deviceId) : cmp(x.tenantId, y.tenantId)));
        for (const r of ordered) {
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [r.tenantId, r.deviceId]);
          const live = await c.query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [r.tenantId, r.deviceId]);
          if (live.rows[0]) {
            out.set(r, fromRow(live.rows[0]));
            continue;
          }
          const gen = await c.query<{ g: number }>(`INSERT INTO tiq_device_generations (tenant_id, device_id, last_generation) VALUES ($1, $2, 1)
            ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_generation = tiq_device_generations.last_generation + 1 RETURNING last_generation AS g`,
          [r.tenantId, r.deviceId]);
          await c.query(`INSERT INTO tiq_device_keks (tenant_id, device_id, generation, wrapped, tenant_kek_ref, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (tenant_id, device_id) DO NOTHING`, [r.tenantId, r.deviceId, gen.rows[0]!.g, r.wrapped, r.tenantKekRef, r.createdAtMs]);
          const stored = await c.query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [r.tenantId, r.deviceId]);
          out.set(r, fromRow(stored.rows[0]!));
        }
        return rows.map((r) => out.get(r)!);
      });
    } catch (err) {
      throw unavailable(err);
    }
  }

  async destroy(tenantId: string, deviceId: string, request: DestroyRequest): Promise<string[]> {
    let refs: string[];
    try {
      refs = await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [tenantId, deviceId]);
        const { rows } = await c.query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
        const live = rows[0] ? fromRow(rows[0]) : undefined;
        const doomed = live && (request.createdAtOrBeforeMs === undefined || live.createdAtMs <= request.createdAtOrBeforeMs) ? live : undefined;
        if (doomed) await c.query('DELETE FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
        const kekRefs = doomed ? [doomed.kekRef] : [];
        await c.query(`INSERT INTO tiq_device_tombstones (receipt_id, tenant_id, device_id, kek_refs, destroyed_at_ms) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (receipt_id) DO NOTHING`, [request.receiptId, tenantId, deviceId, JSON.stringify(kekRefs), request.atMs]);
        return kekRefs;
      });
    } catch (err) {
      throw unavailable(err);
    }
    // Dead tuples out of the table's pages now rather than at autovacuum's leisure; a failure leaves that to autovacuum.
    if (refs.length > 0) {
      await this.pool.query('VACUUM tiq_device_keks').catch((err: Error) => this.log?.warn({ event: 'device_vault_vacuum_failed', reason: err.message }, 'VACUUM of the device key table failed; autovacuum will reclaim it'));
    }
    return refs;
  }

  /** Moves a single gateway's vault in (pg-vault-import.ts). */
  async importVault(v: VaultImport): Promise<VaultImportResult> {
    try {
      return await inTransaction(this.pool, (c) => importVaultRows(c, v));
    } catch (err) {
      throw unavailable(err);
    }
  }

  async hasTombstone(receiptId: string): Promise<boolean> {
    const { rows } = await this.#query('SELECT 1 FROM tiq_device_tombstones WHERE receipt_id = $1', [receiptId]);
    return rows.length > 0;
  }

  async listTombstones(): Promise<readonly VaultTombstone[]> {
    const { rows } = await this.#query<{ receipt_id: string; tenant_id: string; device_id: string; kek_refs: string; destroyed_at_ms: string }>(
      'SELECT * FROM tiq_device_tombstones ORDER BY destroyed_at_ms, receipt_id', []);
    return rows.map((r) => ({ tenantId: r.tenant_id, deviceId: r.device_id, kekRefs: JSON.parse(r.kek_refs) as string[], destroyedAtMs: Number(r.destroyed_at_ms), receiptId: r.receipt_id }));
  }

  async listTenant(tenantId: string, options: { afterDeviceId?: string; limit?: number } = {}): Promise<StoredDeviceKek[]> {
    const { rows } = await this.#query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id COLLATE "C" > $2 ORDER BY device_id COLLATE "C" LIMIT $3',
      [tenantId, options.afterDeviceId ?? '', options.limit ?? 500]);
    return rows.map(fromRow);
  }

  async updateWrapped(updates: readonly { readonly kek: StoredDeviceKek; readonly wrapped: Buffer; readonly tenantKekRef: string }[]): Promise<number> {
    try {
      return await inTransaction(this.pool, async (c) => {
        let n = 0;
        for (const u of updates) {
          const res = await c.query('UPDATE tiq_device_keks SET wrapped = $1, tenant_kek_ref = $2 WHERE tenant_id = $3 AND device_id = $4 AND generation = $5',
            [u.wrapped, u.tenantKekRef, u.kek.tenantId, u.kek.deviceId, u.kek.generation]);
          n += res.rowCount ?? 0;
        }
        return n;
      });
    } catch (err) {
      throw unavailable(err);
    }
  }

  async countByTenantKek(tenantId: string): Promise<Map<string, number>> {
    const { rows } = await this.#query<{ ref: string; n: string }>('SELECT tenant_kek_ref AS ref, count(*) AS n FROM tiq_device_keks WHERE tenant_id = $1 GROUP BY tenant_kek_ref', [tenantId]);
    return new Map(rows.map((r) => [r.ref, Number(r.n)]));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw unavailable(err);
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whatever keeps the vault from answering, a message's key cannot be made now: retryable. */
function unavailable(err: unknown): TiqError {
  if (err instanceof TiqError) return err;
  return new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'device key vault (PostgreSQL) unavailable', detail: (err as Error).message }, { cause: err });
}
