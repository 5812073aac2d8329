/**
 * Legal holds outlive a restore, as erasures do: a hold in force in the
 * control store the restore replaces (set after the backup was taken) is
 * written into the restored one, so what it keeps is neither erased nor
 * swept (GDPR Art. 17(3)(e)). Only holds travel: a release made after the
 * backup is not carried, so a restore keeps more, never less.
 */
import { existsSync } from 'node:fs';
import type { GatewayConfig } from '../config/schema.ts';
import type { LegalHoldValue } from '../control/control-kinds.ts';
import { openControlStore } from '../control/open-control-store.ts';
import { holdKey } from '../control/retention-state.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { controlStorePath, type ResolvePath } from './backup-sources.ts';

/** The holds in force in the live control store, read without creating one where none exists. */
export async function liveHolds(config: GatewayConfig, resolvePath: ResolvePath): Promise<LegalHoldValue[]> {
  const sqlite = controlStorePath(config, resolvePath);
  if (sqlite !== undefined && !existsSync(sqlite)) return [];
  const store = await openControlStore(config.controlStore, resolvePath(config.dataDir));
  try {
    return [...store.entries('legal-hold').values()].filter((h) => h.held);
  } finally {
    await store.close();
  }
}

/** Writes into the restored control store each hold it does not have in force; returns how many. */
export async function carryHolds(config: GatewayConfig, dataDir: string, holds: readonly LegalHoldValue[]): Promise<number> {
  if (holds.length === 0) return 0;
  const store = await openControlStore(config.controlStore, dataDir);
  try {
    const missing = holds.filter((h) => store.get('legal-hold', holdKey(h.tenantId, h.deviceId))?.held !== true);
    if (missing.length > 0) {
      await store.write(missing.map((h) => ({ kind: 'legal-hold' as const, key: holdKey(h.tenantId, h.deviceId), value: h })), LOCAL_OPERATOR_ACTOR);
    }
    return missing.length;
  } finally {
    await store.close();
  }
}
