/**
 * The shared keyring (src/keys/shared-keyring.ts) in PostgreSQL, in the
 * control store's database: one row per KEK version, sealed under the root
 * key, which never enters the database.
 *
 * First writer wins with INSERT ... ON CONFLICT DO NOTHING: a racing
 * insert waits for the one in progress and then does nothing. Its RETURNING
 * is then empty, and the winner's row is read by a second statement: under
 * READ COMMITTED each statement takes a new snapshot, which sees the
 * winner's commit (a SELECT in the same statement would not:
 * https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED).
 */
import pg from 'pg';
import type { SealedKekVersion, SharedKeyringStore } from '../keys/shared-keyring.ts';
import { inTransaction } from '../control/pg-transaction.ts';

const SCHEMA = `CREATE TABLE IF NOT EXISTS tiq_kek_versions (
  tenant_id text NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  created_at_ms bigint NOT NULL,
  sealed bytea NOT NULL,
  PRIMARY KEY (tenant_id, version)
)`;
/** Serializes the CREATE TABLE of nodes starting together ("tiqkek"). */
const SCHEMA_LOCK = 0x7469716b656b;

function fromRow(r: { tenant_id: string; version: number; created_at_ms: string; sealed: Buffer }): SealedKekVersion {
  return { tenantId: r.tenant_id, version: Number(r.version), createdAtMs: Number(r.created_at_ms), sealed: Buffer.from(r.sealed) };
}

export class PgKeyringStore implements SharedKeyringStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(connectionString: string): Promise<PgKeyringStore> {
    const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 5000 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    try {
      await inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new PgKeyringStore(pool);
  }

  async list(tenantId: string): Promise<SealedKekVersion[]> {
    const { rows } = await this.pool.query('SELECT * FROM tiq_kek_versions WHERE tenant_id = $1 ORDER BY version', [tenantId]);
    return rows.map(fromRow);
  }

  async insertIfAbsent(v: SealedKekVersion): Promise<SealedKekVersion> {
    const inserted = await this.pool.query(`INSERT INTO tiq_kek_versions (tenant_id, version, created_at_ms, sealed) VALUES ($1, $2, $3, $4)
      ON CONFLICT (tenant_id, version) DO NOTHING RETURNING *`, [v.tenantId, v.version, v.createdAtMs, v.sealed]);
    if (inserted.rows[0]) return fromRow(inserted.rows[0]);
    const { rows } = await this.pool.query('SELECT * FROM tiq_kek_versions WHERE tenant_id = $1 AND version = $2', [v.tenantId, v.version]);
    if (!rows[0]) throw new Error(`KEK version ${v.version} of ${v.tenantId} neither inserted nor found`);
    return fromRow(rows[0]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
