/**
 * Each sink keeps a copy of the legal holds (tiq_legal_holds): its sweep
 * checks them in the statement that deletes, so a hold set while a write
 * was in flight still protects the record. A restored SQLite sink brings
 * back the copies of the backup's time, and a PostgreSQL sink put back by
 * `pg_restore` those of the dump's: a stale held copy would keep records
 * whose hold was released, whatever the control store says. After a
 * restore the copies follow the control store, entry by entry, wherever
 * its decision is the newer one.
 */
import { existsSync } from 'node:fs';
import pg from 'pg';
import type { GatewayConfig } from '../config/schema.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import type { LegalHoldValue } from '../control/control-kinds.ts';
import { holdKey } from '../control/retention-state.ts';
import { listHoldsPg, putHoldPg } from '../sinks/postgres-retention.ts';
import { SqliteSink } from '../sinks/sqlite-sink.ts';
import type { StoredLegalHold } from '../sinks/storage-sink.ts';
import { sqliteSinks, type ResolvePath } from './backup-sources.ts';

/** `tenant/device`, or `tenant/*` for a tenant-wide hold. */
export const holdLabel = (h: { tenantId: string; deviceId: string }): string => `${h.tenantId}/${h.deviceId === '' ? '*' : h.deviceId}`;

interface HoldCopies {
  list(): Promise<StoredLegalHold[]>;
  put(hold: StoredLegalHold): Promise<void>;
}

/**
 * Brings every sink's copies to the control store's decisions (`decisions`),
 * where the decision is newer than the copy. Returns the holds whose release,
 * made after the backup (`backupCreatedMs`), replaced a held copy.
 */
export async function alignSinkHoldCopies(config: GatewayConfig, resolvePath: ResolvePath, decisions: readonly LegalHoldValue[], backupCreatedMs: number): Promise<string[]> {
  const released = new Set<string>();
  const storage = resolveStorageConfig(config.storage);
  const sinkOf = (tenantId: string): string => storage.tenantSinks[tenantId] ?? storage.defaultSink;
  const byKey = new Map(decisions.map((d) => [holdKey(d.tenantId, d.deviceId), d]));
  const align = async (name: string, copies: HoldCopies): Promise<void> => {
    const stored = new Map((await copies.list()).map((c) => [holdKey(c.tenantId, c.deviceId), c]));
    for (const [key, d] of byKey) {
      const copy = stored.get(key);
      if (copy !== undefined && copy.changedAtMs >= d.changedAtMs) continue;
      // A hold is copied into its tenant's sink; a release replaces a held copy wherever one is.
      if (d.held ? sinkOf(d.tenantId) !== name : copy?.held !== true) continue;
      await copies.put(d);
      if (!d.held && d.changedAtMs > backupCreatedMs) released.add(holdLabel(d));
    }
  };
  for (const { sink, path } of sqliteSinks(config, resolvePath)) {
    if (!existsSync(path)) continue;
    const s = new SqliteSink(sink, { path, durability: 'fsync' });
    await s.start();
    try {
      await align(sink, { list: () => s.listLegalHolds(), put: (h) => s.putLegalHold(h) });
    } finally {
      await s.close();
    }
  }
  for (const [name, s] of Object.entries(storage.sinks)) {
    if (s.type !== 'postgres') continue;
    const pool = new pg.Pool({ connectionString: s.connectionString, max: 1 });
    pool.on('error', () => {});
    try {
      // A sink never started has no tables yet, hence no copies.
      const { rows } = await pool.query<{ t: string | null }>("SELECT to_regclass('tiq_legal_holds')::text AS t");
      if (rows[0]?.t != null) await align(name, { list: () => listHoldsPg(pool), put: (h) => putHoldPg(pool, h) });
    } finally {
      await pool.end();
    }
  }
  return [...released];
}
