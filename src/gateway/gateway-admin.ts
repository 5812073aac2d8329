/**
 * Builds the admin API's dependencies from a running gateway: the same PKI,
 * tenants, privacy engine, keys, storage and retention the broker uses, plus
 * the restriction and objection registries and the audit log.
 */
import { join } from 'node:path';
import { Counter } from 'prom-client';
import { privacyAdmin, keysAdmin, pkiAdmin, recordsAdmin, retentionAdmin, tenantChangesAdmin, tenantsAdmin } from '../admin/admin-adapters.ts';
import type { AdminDeps } from '../admin/admin-deps.ts';
import { createAdminServer, type AdminServer } from '../admin/admin-server.ts';
import { ObjectionRegistry } from '../admin/objection-registry.ts';
import { RestrictionRegistry } from '../admin/restriction-registry.ts';
import { AuditLog, auditDirOf } from '../audit/audit-log.ts';
import type { Gateway } from './gateway.ts';
import { recordDecoder } from '../messages/record-decoder.ts';

export interface AdminParts {
  readonly restrictions: RestrictionRegistry;
  readonly objections: ObjectionRegistry;
  readonly audit: AuditLog;
}

export function openAdminParts(dataDir: string): AdminParts {
  return {
    restrictions: new RestrictionRegistry(join(dataDir, 'admin')),
    objections: new ObjectionRegistry(join(dataDir, 'admin')),
    audit: new AuditLog(auditDirOf(dataDir)),
  };
}

/** Every aggregated audit event counts here, written or folded into a summary entry. */
function countAggregatedEvents(gw: Gateway, parts: AdminParts): void {
  const counter = new Counter({
    name: 'thingiq_audit_aggregated_events_total', help: 'Audit events subject to aggregation (refusals, failed authentication, reads), by action and result',
    labelNames: ['action', 'result'], registers: [gw.stats.registry],
  });
  parts.audit.aggregator.onEvent = (e) => counter.inc({ action: e.action, result: e.result });
}

export function adminDeps(gw: Gateway, parts: AdminParts): AdminDeps {
  const current = () => gw.currentConfig;
  if (!parts.audit.aggregator.onEvent) countAggregatedEvents(gw, parts);
  return {
    tenants: tenantsAdmin(current),
    tenantChanges: tenantChangesAdmin(gw.tenantOverrides, (next, change) => gw.changeTenants(next, change)),
    pki: pkiAdmin(gw.path(gw.config.pkiDir)),
    privacy: privacyAdmin(current, gw.privacy, {
      get: (t) => gw.policyOverrides.get(t),
      put: (t, policy, actor) => gw.putPolicy(t, policy, actor),
    }),
    privateMode: gw.privateMode,
    retention: retentionAdmin(gw.retention, gw.storage),
    keys: keysAdmin(gw.keys),
    records: recordsAdmin({
      sinks: gw.storage,
      openRecord: (r) => gw.keys.sealer.open(r),
      decode: recordDecoder(gw.codec, current),
      deleteDeviceRecords: async (t, d) => {
        // A retained message never outlives its device's erasure.
        gw.retained.clearDevice(t, d);
        return gw.storage.sinkFor(t).deleteDeviceRecords(t, d);
      },
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
      audit: async () => parts.audit.health(),
      mqtt: async () => ({ ok: gw.mqttPort > 0 }),
    },
    metrics: async () => ({ contentType: gw.stats.registry.contentType, body: await gw.stats.registry.metrics() }),
  };
}

export async function startAdmin(gw: Gateway, parts: AdminParts): Promise<{ server: AdminServer; ports: { port: number; mtlsPort: number } }> {
  const server = createAdminServer(adminDeps(gw, parts), { config: gw.config.admin, baseDir: gw.baseDir, logger: gw.log });
  return { server, ports: await server.start() };
}
