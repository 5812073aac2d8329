/**
 * Legal-hold decisions outlive a restore, as erasures do. The authority is
 * the control store the restore replaces: each hold and each release there
 * is an explicit entry with the time it was made (LegalHoldValue), read
 * before it is replaced. The audit log records who did it, but it is
 * evidence, not state: it is set aside whole and never replayed.
 *
 * - A hold in force there that the restored store lacks is written into it,
 *   so what it keeps is neither erased nor swept (GDPR Art. 17(3)(e)).
 * - A release made after the backup was taken, of a hold the restored store
 *   has in force from before it (its own, or the config file's where it has
 *   none), is written into it too: data whose hold was lifted is deleted when
 *   its retention ends (Art. 5(1)(e)), not kept again silently.
 * - Absence is never a release: a fresh machine's empty (or missing) store
 *   carries nothing, so a disaster recovery keeps every hold of the backup.
 * - A release the backup contradicts (newer than the restored hold, yet not
 *   after the backup: the live store is of another history, or a clock
 *   moved) is not carried: the hold stays, and the restore names it
 *   (`releasesNotCarried`) for the operator to decide.
 */
import { existsSync } from 'node:fs';
import type { Pseudonymizer } from '../audit/pseudonym.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { LegalHoldValue } from '../control/control-kinds.ts';
import { openControlStore } from '../control/open-control-store.ts';
import { holdKey } from '../control/retention-state.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { controlStorePath, type ResolvePath } from './backup-sources.ts';
import { alignSinkHoldCopies, holdLabel } from './restore-hold-copies.ts';

export interface HoldCarry {
  /** Holds in force before the restore that the backup lacked, kept in force. */
  readonly holdsKept: number;
  /** Releases made after the backup, of holds the backup had in force, carried (`tenant/device`, `tenant/*` for the whole tenant). */
  readonly holdsReleased: readonly string[];
  /** Releases not carried because the backup contradicts them; these holds stay in force. */
  readonly releasesNotCarried: readonly string[];
}

/** Every hold decision (holds and releases) of the live control store, read without creating one where none exists. */
export async function liveHoldDecisions(config: GatewayConfig, resolvePath: ResolvePath): Promise<LegalHoldValue[]> {
  const sqlite = controlStorePath(config, resolvePath);
  if (sqlite !== undefined && !existsSync(sqlite)) return [];
  const store = await openControlStore(config.controlStore, resolvePath(config.dataDir));
  try {
    return [...store.entries('legal-hold').values()];
  } finally {
    await store.close();
  }
}

type Verdict = 'keep-hold' | 'release' | 'not-carried' | 'none';

/**
 * What a live decision does to the restored one (`restored` undefined: the
 * backup's store says nothing of this hold; then the config file's hold,
 * `configHeld`, is the one in force, as old as anything).
 */
export function releaseVerdict(live: LegalHoldValue, restored: LegalHoldValue | undefined, backupCreatedMs: number, configHeld = false): Verdict {
  if (live.held) return restored?.held === true ? 'none' : 'keep-hold';
  const heldSince = restored === undefined ? (configHeld ? -Infinity : undefined) : (restored.held ? restored.changedAtMs : undefined);
  if (heldSince === undefined || live.changedAtMs <= heldSince) return 'none';
  return live.changedAtMs > backupCreatedMs ? 'release' : 'not-carried';
}

/** The config file's hold on this key (`tenants.<id>.retention.legalHold`). */
function configHolds(config: GatewayConfig, h: LegalHoldValue): boolean {
  const legalHold = config.tenants[h.tenantId]?.retention?.legalHold;
  return h.deviceId === '' ? legalHold?.tenant === true : legalHold?.devices.includes(h.deviceId) === true;
}

/**
 * Writes the live decisions into the restored control store (see above),
 * then brings the sinks' copies of the holds (which their sweep also
 * checks) to it.
 */
export async function carryHoldDecisions(config: GatewayConfig, resolvePath: ResolvePath, live: readonly LegalHoldValue[], backupCreatedMs: number): Promise<HoldCarry> {
  const store = await openControlStore(config.controlStore, resolvePath(config.dataDir));
  const released = new Set<string>();
  const notCarried = new Set<string>();
  let holdsKept = 0;
  try {
    const writes: LegalHoldValue[] = [];
    for (const l of live) {
      const verdict = releaseVerdict(l, store.get('legal-hold', holdKey(l.tenantId, l.deviceId)), backupCreatedMs, configHolds(config, l));
      if (verdict === 'keep-hold') holdsKept++;
      if (verdict === 'release') released.add(holdLabel(l));
      if (verdict === 'not-carried') notCarried.add(holdLabel(l));
      if (verdict === 'keep-hold' || verdict === 'release') writes.push(l);
    }
    if (writes.length > 0) {
      await store.write(writes.map((h) => ({ kind: 'legal-hold' as const, key: holdKey(h.tenantId, h.deviceId), value: h })), LOCAL_OPERATOR_ACTOR);
    }
    for (const k of await alignSinkHoldCopies(config, resolvePath, [...store.entries('legal-hold').values()], backupCreatedMs)) released.add(k);
  } finally {
    await store.close();
  }
  return { holdsKept, holdsReleased: [...released].sort(), releasesNotCarried: [...notCarried].sort() };
}

/**
 * The restore's audit detail: counts, then the holds concerned by name.
 * Devices appear by their audit pseudonym, as in every other entry (the
 * restore's own output, not the log, names them): the whole tenant as
 * `tenant/*`.
 */
export function restoreAuditDetail(r: { createdAt: string; tombstones: number; newer: number; holds: HoldCarry }, pseudonyms: Pick<Pseudonymizer, 'device'>): string {
  const named = (label: string): string => {
    const at = label.indexOf('/');
    const [tenant, device] = [label.slice(0, at), label.slice(at + 1)];
    return device === '*' ? label : `${tenant}/${pseudonyms.device(tenant, device)}`;
  };
  const names = (label: string, list: readonly string[]) => (list.length > 0 ? ` ${label}=${list.map(named).join(',')}` : '');
  return `offline backup=${r.createdAt} tombstones=${r.tombstones} newer=${r.newer} holdsKept=${r.holds.holdsKept}`
    + ` holdsReleased=${r.holds.holdsReleased.length} releasesNotCarried=${r.holds.releasesNotCarried.length}`
    + names('released', r.holds.holdsReleased) + names('notCarried', r.holds.releasesNotCarried);
}
