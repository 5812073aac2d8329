/**
 * A gateway that ran as a single process kept its device KEKs in its vault
 * file (src/keys/device-key-vault.ts); in cluster mode the vault is shared
 * in PostgreSQL. When such a gateway joins a cluster, its file is moved into
 * the shared vault before any key is opened, so the records it stored open
 * on every node (docs/cluster.md, "Joining with an existing vault"):
 *
 * - tombstones are inserted if absent; a KEK is inserted with its own
 *   generation unless a tombstone postdates it or the shared vault already
 *   saw that generation (an erasure in the cluster wins over the file);
 * - then the moved KEKs, and those an erasure overruled, are deleted from
 *   the file (secure_delete): no copy outside the shared vault survives a
 *   later erasure. A KEK the shared vault holds another live one for stays
 *   in the file and is logged as a conflict.
 *
 * Idempotent: a second run finds nothing to move. Logged and audited (in
 * the cluster's chain) only when something moved, with counts and key
 * references, never key material.
 */
import { existsSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { DeviceKeyVault } from '../keys/device-key-vault.ts';
import type { AuditInput } from '../audit/audit-entry.ts';
import type { PgDeviceKeyVault } from './pg-device-vault.ts';
import type { VaultImportResult } from './pg-vault-import.ts';

export interface VaultJoin {
  /** The vault file a single process used (`keys.deviceVault.file`, default next to the keyring). */
  readonly vaultFile: string;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Appends to the cluster's audit chain. */
  readonly audit?: (entry: AuditInput) => Promise<unknown>;
}

export async function importLocalVault(shared: PgDeviceKeyVault, join: VaultJoin): Promise<VaultImportResult | undefined> {
  if (!existsSync(join.vaultFile)) return undefined;
  const local = DeviceKeyVault.open(join.vaultFile);
  try {
    const { keks, generations } = local.exportAll();
    const tombstones = await local.listTombstones();
    if (keks.length === 0 && tombstones.length === 0) return undefined;
    const result = await shared.importVault({ keks, generations, tombstones });
    // Audited before the file lets go: should the audit fail, the next start finds them again (alreadyShared).
    await report(result, join);
    local.forget([...result.imported, ...result.present, ...result.erased]);
    return result;
  } finally {
    local.close();
  }
}

async function report(r: VaultImportResult, join: VaultJoin): Promise<void> {
  for (const k of r.conflicts) {
    join.log?.warn({ event: 'device_vault_import_conflict', kekRef: k.kekRef }, 'the shared device key vault holds another key for this device; the file keeps its own');
  }
  if (r.imported.length + r.present.length + r.erased.length + r.tombstones === 0) return;
  const counts = { imported: r.imported.length, alreadyShared: r.present.length, erased: r.erased.length, conflicts: r.conflicts.length, tombstones: r.tombstones };
  join.log?.info({ event: 'device_vault_imported', file: join.vaultFile, ...counts }, 'device key vault file moved into the shared vault');
  await join.audit?.({
    actor: 'system', role: 'system', action: 'keys.vault.import', target: 'device-vault', tenant: '', result: 'ok',
    detail: Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' '),
  });
}
