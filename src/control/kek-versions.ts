/**
 * KEK version metadata in the control store (`kek-version` kind, keyed
 * `tenant/kekRef`): which version of a tenant's key-encryption key is
 * primary, since when, and who made it so. Every gateway following the feed
 * refreshes its key provider and evicts the tenant's cached data keys when a
 * new primary arrives, so new data keys are wrapped under it at once on every
 * process. Never key material: the keyring (or KMS) keeps the keys.
 */
import type { KekVersionValue } from './control-kinds.ts';
import type { ControlStore, ControlStoreLogger, ControlWrite } from './control-store.ts';

export const kekKey = (tenantId: string, kekRef: string): string => `${tenantId}/${kekRef}`;

/** The tenant's recorded versions, oldest first. */
export function recordedKeks(store: ControlStore, tenantId: string): KekVersionValue[] {
  return [...store.entries('kek-version').values()].filter((k) => k.tenantId === tenantId)
    .sort((a, b) => a.createdAtMs - b.createdAtMs || a.kekRef.localeCompare(b.kekRef));
}

export interface KekRotationFacts {
  readonly tenantId: string;
  readonly kekRef: string;
  /** When the provider made the version; now when it cannot tell. */
  readonly createdAtMs?: number | undefined;
  readonly actor: string;
  /** Older versions the provider knows and the store does not yet (made on first use): recorded as not primary. */
  readonly known?: readonly DescribedKek[];
}

/**
 * Records `kekRef` as the tenant's primary (the previous primary kept, no
 * longer primary), in one transaction. Nothing is written when it is
 * already the recorded primary; returns whether something was.
 */
export async function recordKekRotation(store: ControlStore, r: KekRotationFacts): Promise<boolean> {
  const current = recordedKeks(store, r.tenantId);
  if (current.some((k) => k.kekRef === r.kekRef && k.primary)) return false;
  const writes: ControlWrite[] = current.filter((k) => k.primary)
    .map((k) => ({ kind: 'kek-version', key: kekKey(k.tenantId, k.kekRef), value: { ...k, primary: false } }));
  for (const k of r.known ?? []) {
    if (k.kekRef === r.kekRef || current.some((c) => c.kekRef === k.kekRef)) continue;
    writes.push({ kind: 'kek-version', key: kekKey(r.tenantId, k.kekRef), value: {
      tenantId: r.tenantId, kekRef: k.kekRef, primary: false, createdAtMs: k.createdAtMs ?? 0, actor: 'system',
    } });
  }
  writes.push({ kind: 'kek-version', key: kekKey(r.tenantId, r.kekRef), value: {
    tenantId: r.tenantId, kekRef: r.kekRef, primary: true, createdAtMs: r.createdAtMs ?? Date.now(), actor: r.actor,
  } });
  await store.write(writes, r.actor);
  return true;
}

/** A version as a key provider describes it (KekVersionInfo fits). */
export interface DescribedKek {
  readonly kekRef: string;
  readonly primary: boolean;
  readonly createdAtMs: number | undefined;
}

const IMPORT_NAME = 'keyring KEK versions';

/**
 * Imports, once, the versions the keyring already holds (older versions kept
 * them only there), logged. A version the store already has is kept.
 */
export async function importKekVersions(store: ControlStore, described: ReadonlyMap<string, readonly DescribedKek[]>, log?: ControlStoreLogger): Promise<void> {
  if (store.get('import', IMPORT_NAME) !== undefined) return;
  const writes: ControlWrite[] = [];
  for (const [tenantId, keks] of described) {
    for (const k of keks) {
      if (store.get('kek-version', kekKey(tenantId, k.kekRef)) !== undefined) continue;
      writes.push({ kind: 'kek-version', key: kekKey(tenantId, k.kekRef), value: {
        tenantId, kekRef: k.kekRef, primary: k.primary, createdAtMs: k.createdAtMs ?? 0, actor: 'system:import',
      } });
    }
  }
  await store.write([...writes, { kind: 'import', key: IMPORT_NAME, value: { atMs: Date.now(), counts: { entries: writes.length } } }], 'system:import');
  log?.info({ event: 'control_imported', source: IMPORT_NAME, entries: writes.length }, `imported ${writes.length} KEK versions from the keyring into the control store (metadata only)`);
}

/** A status line of `keys status`, with what the control store recorded about it. */
export type WithRecord<T> = T & { readonly recorded?: { readonly primary: boolean; readonly createdAtMs: number; readonly actor: string } };

/**
 * The provider's view of the tenant's versions joined with the store's
 * records; a version only the store knows (another process's keyring, a
 * replaced KMS key) is listed too.
 */
export function joinRecordedKeks<T extends DescribedKek>(keks: readonly T[], recorded: readonly KekVersionValue[], orphan: (r: KekVersionValue) => T): WithRecord<T>[] {
  const byRef = new Map(recorded.map((r) => [r.kekRef, r]));
  const rows: WithRecord<T>[] = keks.map((k) => {
    const r = byRef.get(k.kekRef);
    return r ? { ...k, recorded: { primary: r.primary, createdAtMs: r.createdAtMs, actor: r.actor } } : k;
  });
  for (const r of recorded) {
    if (!keks.some((k) => k.kekRef === r.kekRef)) rows.push({ ...orphan(r), recorded: { primary: r.primary, createdAtMs: r.createdAtMs, actor: r.actor } });
  }
  return rows;
}
