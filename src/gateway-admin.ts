/**
 * Builds the admin API's dependencies from a running gateway: the same PKI,
 * tenants, privacy engine, keys, storage and retention the broker uses, plus
 * the restriction and objection registries and the audit log.
 */
import { privacyAdmin, keysAdmin, pkiAdmin, recordsAdmin, retentionAdmin, tenantChangesAdmin, tenantsAdmin } from './admin/admin-adapters.ts';
import type { AdminDeps } from './admin/admin-deps.ts';
import { createAdminServer, type AdminServer } from './admin/admin-server.ts';
import { ObjectionRegistry } from './admin/objection-registry.ts';
import { RestrictionRegistry } from './admin/restriction-registry.ts';
import { AuditLog, auditDirOf } from './audit/audit-log.ts';
import type { ControlStore } from './control/control-store.ts';
import type { Gateway } from './gateway.ts';
import { recordDecoder } from './messages/record-decoder.ts';

export interface AdminParts {
  readonly restrictions: RestrictionRegistry;
  readonly objections: ObjectionRegistry;
  readonly audit: AuditLog;
}

export function openAdminParts(dataDir: string, control: ControlStore): AdminParts {
  return {
    restrictions: new RestrictionRegistry(control),
    objections: new ObjectionRegistry(control),
    audit: new AuditLog(auditDirOf(dataDir)),
  };
}

export function adminDeps(gw: Gateway, parts: AdminParts): AdminDeps {
  const current = () => gw.currentConfig;
  return {
    tenants: tenantsAdmin(current),
    tenantChanges: tenantChangesAdmin(gw.tenantOverrides, (next, change) => gw.changeTenants(next, change)),
    pki: pkiAdmin(gw.path(gw.config.pkiDir), gw.control),
    privacy: privacyAdmin(current, gw.privacy, {
      get: (t) => gw.policyOverrides.get(t),
      put: (t, policy, actor) => gw.putPolicy(t, policy, actor),
    }),
    privateMode: gw.privateMode,
    retention: retentionAdmin(gw.retention, gw.storage, gw.control),
    keys: keysAdmin(gw.keys, gw.control),
    records: recordsAdmin({
      sinks: gw.storage,
      openRecord: (r) => gw.keys.sealer.open(r),
      decode: recordDecoder(gw.codec, current),
      deleteDeviceRecords: (t, d) => gw.storage.sinkFor(t).deleteDeviceRecords(t, d),
    }),
    restrictions: parts.restrictions,
    objections: parts.objections,
    audit: parts.audit,
    probes: {
      storage: async () => {
        const h = await gw.storage.health();
        return { ok: h.ok };
      },
      keys: async () => gw.keys.provider.health(),
      mqtt: async () => ({ ok: gw.mqttPort > 0 }),
    },
    metrics: async () => ({ contentType: gw.stats.registry.contentType, body: await gw.stats.registry.metrics() }),
  };
}

export async function startAdmin(gw: Gateway, parts: AdminParts): Promise<{ server: AdminServer; ports: { port: number; mtlsPort: number } }> {
  const server = createAdminServer(adminDeps(gw, parts), { config: gw.config.admin, baseDir: gw.baseDir, logger: gw.log });
  return { server, ports: await server.start() };
}
