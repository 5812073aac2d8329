/**
 * The device key vault of a cluster, in the shared PostgreSQL database:
 * one live KEK per device, made once whichever node needs it first
 * (a transaction-scoped advisory lock per device serializes the check and
 * the insert, as the vault file's IMMEDIATE transaction does), destroyed
 * with its tombstone in one transaction.
 *
 * Unlike the vault file (secure_delete, no WAL), a deleted row lingers in
 * PostgreSQL until VACUUM and in WAL archives and base backups
 * (docs/keys.md, "Cluster mode"): the wrapped KEK is still under the
 * tenant's KEK, so erasure against old copies of this database rests on
 * the copies' retention.
 */
import pg from 'pg';
import type { DeviceKekStore } from '../keys/device-kek-store.ts';
import { deviceKekRef, parseDeviceKekRef, type DestroyRequest, type StoredDeviceKek, type VaultTombstone } from '../keys/device-key-vault.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tiq_device_keks (
  tenant_id text NOT NULL, device_id text COLLATE "C" NOT NULL, generation integer NOT NULL, wrapped bytea NOT NULL,
  tenant_kek_ref text NOT NULL, created_at_ms bigint NOT NULL, PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS tiq_device_generations (
  tenant_id text NOT NULL, device_id text NOT NULL, last_generation integer NOT NULL, PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS tiq_device_tombstones (
  receipt_id text PRIMARY KEY, tenant_id text NOT NULL, device_id text NOT NULL, kek_refs text NOT NULL, destroyed_at_ms bigint NOT NULL
);`;
/** Serializes schema creation ("tiqdvk"). */
const SCHEMA_LOCK = 0x746971647676;

interface KekRow { tenant_id: string; device_id: string; generation: number; wrapped: Buffer; tenant_kek_ref: string; created_at_ms: string }

function fromRow(r: KekRow): StoredDeviceKek {
  return {
    tenantId: r.tenant_id, deviceId: r.device_id, generation: Number(r.generation),
    kekRef: deviceKekRef(r.tenant_id, r.device_id, Number(r.generation)),
    wrapped: Buffer.from(r.wrapped), tenantKekRef: r.tenant_kek_ref, createdAtMs: Number(r.created_at_ms),
  };
}

type Queryable = pg.Pool | pg.PoolClient;

export class PgDeviceVault implements DeviceKekStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(connectionString: string): Promise<PgDeviceVault> {
    const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    const vault = new PgDeviceVault(pool);
    try {
      await vault.#transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return vault;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  get(tenantId: string, deviceId: string): Promise<StoredDeviceKek | undefined> {
    return this.#get(this.pool, tenantId, deviceId);
  }

  async getByRef(kekRef: string): Promise<StoredDeviceKek | undefined> {
    const ref = parseDeviceKekRef(kekRef);
    if (!ref) return undefined;
    const kek = await this.get(ref.tenantId, ref.deviceId);
    return kek?.generation === ref.generation ? kek : undefined;
  }

  insertIfAbsent(tenantId: string, deviceId: string, wrapped: Buffer, tenantKekRef: string, createdAtMs: number): Promise<StoredDeviceKek> {
    return this.#transaction(async (c) => {
      await lockDevice(c, tenantId, deviceId);
      const live = await this.#get(c, tenantId, deviceId);
      if (live) return live;
      const { rows } = await c.query<{ g: number }>(`INSERT INTO tiq_device_generations (tenant_id, device_id, last_generation) VALUES ($1, $2, 1)
        ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_generation = tiq_device_generations.last_generation + 1 RETURNING last_generation AS g`, [tenantId, deviceId]);
      const inserted = await c.query<KekRow>(`INSERT INTO tiq_device_keks (tenant_id, device_id, generation, wrapped, tenant_kek_ref, created_at_ms)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`, [tenantId, deviceId, rows[0]!.g, wrapped, tenantKekRef, createdAtMs]);
      return fromRow(inserted.rows[0]!);
    });
  }

  destroy(tenantId: string, deviceId: string, request: DestroyRequest): Promise<string[]> {
    return this.#transaction(async (c) => {
      await lockDevice(c, tenantId, deviceId);
      const live = await this.#get(c, tenantId, deviceId);
      const doomed = live && (request.createdAtOrBeforeMs === undefined || live.createdAtMs <= request.createdAtOrBeforeMs) ? live : undefined;
      if (doomed) await c.query('DELETE FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
      const kekRefs = doomed ? [doomed.kekRef] : [];
      await c.query(`INSERT INTO tiq_device_tombstones (receipt_id, tenant_id, device_id, kek_refs, destroyed_at_ms) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (receipt_id) DO NOTHING`, [request.receiptId, tenantId, deviceId, JSON.stringify(kekRefs), request.atMs]);
      return kekRefs;
    });
  }

  async hasTombstone(receiptId: string): Promise<boolean> {
    return ((await this.pool.query('SELECT 1 FROM tiq_device_tombstones WHERE receipt_id = $1', [receiptId])).rowCount ?? 0) > 0;
  }

  async listTombstones(): Promise<readonly VaultTombstone[]> {
    const { rows } = await this.pool.query<{ receipt_id: string; tenant_id: string; device_id: string; kek_refs: string; destroyed_at_ms: string }>(
      'SELECT * FROM tiq_device_tombstones ORDER BY destroyed_at_ms, receipt_id');
    return rows.map((r) => ({ tenantId: r.tenant_id, deviceId: r.device_id, kekRefs: JSON.parse(r.kek_refs) as string[], destroyedAtMs: Number(r.destroyed_at_ms), receiptId: r.receipt_id }));
  }

  async listTenant(tenantId: string, options: { afterDeviceId?: string; limit?: number } = {}): Promise<StoredDeviceKek[]> {
    const { rows } = await this.pool.query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id > $2 ORDER BY device_id LIMIT $3',
      [tenantId, options.afterDeviceId ?? '', options.limit ?? 500]);
    return rows.map(fromRow);
  }

  updateWrapped(updates: readonly { readonly kek: StoredDeviceKek; readonly wrapped: Buffer; readonly tenantKekRef: string }[]): Promise<number> {
    return this.#transaction(async (c) => {
      let n = 0;
      for (const u of updates) {
        const r = await c.query('UPDATE tiq_device_keks SET wrapped = $1, tenant_kek_ref = $2 WHERE tenant_id = $3 AND device_id = $4 AND generation = $5',
          [u.wrapped, u.tenantKekRef, u.kek.tenantId, u.kek.deviceId, u.kek.generation]);
        n += r.rowCount ?? 0;
      }
      return n;
    });
  }

  async countByTenantKek(tenantId: string): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ ref: string; n: string }>('SELECT tenant_kek_ref AS ref, count(*) AS n FROM tiq_device_keks WHERE tenant_id = $1 GROUP BY tenant_kek_ref', [tenantId]);
    return new Map(rows.map((r) => [r.ref, Number(r.n)]));
  }

  async #get(q: Queryable, tenantId: string, deviceId: string): Promise<StoredDeviceKek | undefined> {
    const { rows } = await q.query<KekRow>('SELECT * FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async #transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
}

/** One device's KEK is made or destroyed by one transaction at a time, across every node. */
async function lockDevice(c: pg.PoolClient, tenantId: string, deviceId: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))', [`tiq-device-kek/${tenantId}/${deviceId}`]);
}
