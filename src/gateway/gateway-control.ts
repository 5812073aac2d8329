/**
 * The running gateway follows the control store's change feed: every change,
 * whoever made it (the admin API, the CLI, another gateway process), is
 * applied at once. Handlers are grouped by kind; a burst of changes of one
 * kind (a revocation of many serials in one transaction) runs its handler
 * once, at the end of the event-loop turn.
 */
import { join } from 'node:path';
import type { ControlKind } from '../control/control-kinds.ts';
import type { ChangeEvent, ChangeEventOf, ControlStore } from '../control/control-store.ts';
import { tenantsFileSource } from '../admin/tenant-overrides.ts';
import { checkAuditAnchor } from '../audit/audit-anchor.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { AuditHeadRecorder, auditHeadKey } from '../control/audit-head.ts';
import { importKekVersions, type DescribedKek } from '../control/kek-versions.ts';
import { TiqError } from '../errors.ts';
import { importLegacyFiles, legacySources } from '../control/legacy-import.ts';
import type { KeyContext } from '../keys/key-context.ts';
import { openControlStore } from '../control/open-control-store.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { pkiPaths } from '../pki/pki-store.ts';
import { policiesFileSource } from '../privacy/policy-overrides.ts';
import { privateModeFileSource } from '../privacy/private-mode.ts';

export type ControlHandlers = { readonly [K in ControlKind]?: (events: readonly ChangeEventOf<K>[]) => void };

/** Opens the configured store and imports, once, the files older versions kept. */
export async function openGatewayControlStore(config: GatewayConfig, resolvePath: (p: string) => string, log: Logger): Promise<ControlStore> {
  const dataDir = resolvePath(config.dataDir);
  const store = await openControlStore(config.controlStore, dataDir, log);
  try {
    await importLegacyFiles(store, [...legacySources({
      adminDir: join(dataDir, 'admin'), privacyDir: join(dataDir, 'privacy'), pkiRegistry: pkiPaths(resolvePath(config.pkiDir)).registry,
    }), tenantsFileSource(join(dataDir, 'admin')), policiesFileSource(join(dataDir, 'privacy')),
      privateModeFileSource(join(dataDir, 'privacy'))], log);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export function followControlFeed(store: ControlStore, handlers: ControlHandlers, log: Logger): () => void {
  let pending = new Map<ControlKind, ChangeEvent[]>();
  let scheduled = false;
  const flush = (): void => {
    const batch = pending;
    pending = new Map();
    scheduled = false;
    for (const [kind, events] of batch) {
      try {
        (handlers[kind] as ((events: readonly ChangeEvent[]) => void) | undefined)?.(events);
      } catch (err) {
        log.error({ event: 'control_apply_failed', code: 'TIQ_ERR_CONTROL_STORE', kind, reason: (err as Error).message }, 'cannot apply a control-store change');
      }
    }
  };
  return store.onChange((event) => {
    if (!handlers[event.kind]) return;
    pending.set(event.kind, [...(pending.get(event.kind) ?? []), event]);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
}

/**
 * The one-time import of the KEK versions the local keyring holds, for the
 * configured tenants on the local provider (a KMS key's versions live in KMS;
 * its reference is recorded at the first `keys rotate`). Metadata only.
 */
export async function importKeyringVersions(store: ControlStore, keys: KeyContext, tenantIds: readonly string[], log: Logger): Promise<void> {
  const described = new Map<string, readonly DescribedKek[]>();
  for (const tenantId of tenantIds) {
    if (keys.provider.providerFor(tenantId).name === 'local') described.set(tenantId, await keys.provider.describeKeks(tenantId));
  }
  await importKekVersions(store, described, log);
}

/**
 * Checks the audit log against the head the control store recorded (a log
 * with fewer or other entries fails the start with TIQ_ERR_AUDIT_HEAD), then
 * records the head after every group commit from now on.
 */
export function anchorAuditLog(trail: AuditTrail, store: ControlStore, log: Logger): AuditHeadRecorder | undefined {
  // The cluster's shared chain keeps its own MACed head in the same database.
  if (!(trail instanceof AuditLog)) return undefined;
  const audit = trail;
  const key = auditHeadKey(audit.path);
  const stored = store.get('audit-head', key);
  let head: { seq: number; hash: string } | undefined;
  try {
    head = audit.head();
  } catch {
    // A torn tail: every append fails closed (TIQ_ERR_AUDIT) and `audit verify` names the break.
  }
  if (stored && head) {
    const found = checkAuditAnchor(audit.path, head, stored);
    if (found !== 'ok') {
      throw new TiqError('TIQ_ERR_AUDIT_HEAD', { reason: found, recordedSeq: stored.seq, recordedAt: stored.time, logSeq: head.seq, log: audit.path });
    }
  }
  const recorder = new AuditHeadRecorder(store, key, log);
  audit.onCommit = (h) => recorder.record(h);
  // Entries appended while no gateway ran (the offline CLI) are anchored now.
  if (head && head.seq > (stored?.seq ?? 0)) recorder.record({ ...head, time: new Date().toISOString() });
  return recorder;
}
