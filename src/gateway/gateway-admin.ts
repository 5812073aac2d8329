/**
 * Builds the admin API's dependencies from a running gateway: the same PKI,
 * tenants, privacy engine, keys, storage and retention the broker uses, plus
 * the restriction and objection registries and the audit log.
 */
import { existsSync } from 'node:fs';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import { Counter } from 'prom-client';
import { provisioningAdmin } from '../admin/provisioning-adapter.ts';
import { privacyAdmin, keysAdmin, pkiAdmin, recordsAdmin, retentionAdmin, tenantChangesAdmin, tenantsAdmin } from '../admin/admin-adapters.ts';
import type { AdminDeps } from '../admin/admin-deps.ts';
import { largestTimeStep, replayHorizon } from '../admin/record-replay.ts';
import { traceAdminRequests } from '../admin/admin-tracing.ts';
import { createAdminServer, type AdminServer } from '../admin/admin-server.ts';
import { ObjectionRegistry } from '../admin/objection-registry.ts';
import { RestrictionRegistry } from '../admin/restriction-registry.ts';
import { AuditLog, auditDirOf } from '../audit/audit-log.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { ControlStore } from '../control/control-store.ts';
import { IssuanceRegistry, normaliseSerial } from '../pki/issuance-registry.ts';
import { pkiPaths } from '../pki/pki-store.ts';
import type { AdminSources } from './services.ts';
import type { DataDirLock } from '../instance/data-dir-lock.ts';
import { ensureLocalOperator, LOCAL_OPERATOR } from '../instance/local-operator.ts';
import { recordDecoder } from '../messages/record-decoder.ts';
import { backupsAdmin } from './gateway-backup.ts';

export interface AdminParts {
  readonly restrictions: RestrictionRegistry;
  readonly objections: ObjectionRegistry;
  readonly audit: AuditTrail;
}

/** `audit`: the cluster's shared chain; without it, the file log under `dataDir`. */
export function openAdminParts(dataDir: string, control: ControlStore, audit?: AuditTrail): AdminParts {
  return {
    restrictions: new RestrictionRegistry(control),
    objections: new ObjectionRegistry(control),
    audit: audit ?? new AuditLog(auditDirOf(dataDir)),
  };
}

/** Every aggregated audit event counts here, written or folded into a summary entry. */
function countAggregatedEvents(gw: AdminSources, parts: AdminParts): void {
  const counter = new Counter({
    name: 'thingiq_audit_aggregated_events_total', help: 'Audit events subject to aggregation (refusals, failed authentication, reads), by action and result',
    labelNames: ['action', 'result'], registers: [gw.stats.registry],
  });
  parts.audit.aggregator.onEvent = (e) => counter.inc({ action: e.action, result: e.result });
}

export function adminDeps(gw: AdminSources, parts: AdminParts): AdminDeps {
  const current = () => gw.currentConfig;
  if (!parts.audit.aggregator.onEvent) countAggregatedEvents(gw, parts);
  const privacy = privacyAdmin(current, gw.privacy, {
    get: (t) => gw.policyOverrides.get(t),
    put: (t, policy, actor) => gw.putPolicy(t, policy, actor),
  });
  const decode = recordDecoder(gw.codec, current);
  return {
    tenants: tenantsAdmin(current),
    tenantChanges: tenantChangesAdmin(gw.tenantOverrides, (next, change) => gw.changeTenants(next, change)),
    pki: pkiAdmin(gw.path(gw.config.pkiDir), gw.control, gw.config.pkiKeyType),
    provisioning: provisioningAdmin(gw.path(gw.config.pkiDir), gw.control, gw.config.pkiKeyType),
    privacy,
    privateMode: gw.privateMode,
    retention: retentionAdmin(gw.retention, gw.storage, gw.control, resolveStorageConfig(gw.config.storage).sweeper.intervalMs),
    keys: withRetainedCleared(keysAdmin(gw.keys, gw.control), gw),
    records: recordsAdmin({
      sinks: gw.storage,
      openRecord: (r) => gw.keys.sealer.open(r),
      decode,
      deleteDeviceRecords: async (t, d) => {
        // A retained message never outlives its device's erasure.
        gw.retained.clearDevice(t, d);
        return gw.storage.sinkFor(t).deleteDeviceRecords(t, d);
      },
    }),
    replay: {
      sink: (t) => gw.storage.sinkFor(t),
      openRecord: (r) => gw.keys.sealer.open(r),
      decode,
      horizon: replayHorizon({
        now: Date.now, settleMs: gw.config.admin.replaySettleMs,
        timeStepMs: (t) => largestTimeStep(privacy.policyOf(t)), oldestPending: (t) => gw.storage.oldestPendingReceivedAtMs(t),
      }),
    },
    restrictions: parts.restrictions,
    objections: parts.objections,
    audit: parts.audit,
    backups: backupsAdmin(gw),
    ...(gw.cluster ? { cluster: gw.cluster } : {}),
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

export async function startAdmin(gw: AdminSources, parts: AdminParts): Promise<{ server: AdminServer; ports: { port: number; mtlsPort: number } }> {
  const server = createAdminServer(adminDeps(gw, parts), { config: gw.config.admin, baseDir: gw.baseDir, logger: gw.log });
  if (gw.tracer) traceAdminRequests(server.app, gw.tracer);
  return { server, ports: await server.start() };
}

/** Hosts that mean "every interface": the CLI on this machine reaches them on the loopback address. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * Makes the running gateway reachable by the CLI on this machine: the local
 * operator's certificate (issued when needed) and the mTLS listener's URL go
 * into the data directory's lock file, which only the gateway's user can read.
 */
export function publishLocalAdmin(gw: AdminSources & { readonly admin: AdminParts | undefined }, lock: DataDirLock | undefined, mtlsPort: number): void {
  if (!lock) return;
  const pkiDir = gw.path(gw.config.pkiDir);
  const revocations = new IssuanceRegistry(pkiPaths(pkiDir).registry, gw.control);
  let files: ReturnType<typeof ensureLocalOperator>;
  try {
    files = ensureLocalOperator(pkiDir, gw.path(gw.config.dataDir), (serial) => revocations.isRevoked(normaliseSerial(serial)));
  } catch (err) {
    // A cluster node may hold the shared CA's certificate without its key: it issues nothing, not even this.
    if (existsSync(pkiPaths(pkiDir).caKey)) throw err;
    gw.log.warn({ event: 'local_operator_unavailable', code: 'TIQ_ERR_PKI' }, 'no CA key on this node, so no local operator certificate: the CLI reaches this gateway with --url and an operator certificate');
    return;
  }
  if (files.issued) {
    gw.log.info({ event: 'local_operator_issued', certFile: files.certFile }, 'issued the local operator certificate the CLI uses to reach the admin API');
    // A new operator credential is an action like any other: audited.
    const entry = { actor: 'system', role: 'system', action: 'operators.issue', target: `operator:${LOCAL_OPERATOR}`, tenant: '', result: 'ok', detail: 'local operator' } as const;
    const failed = (err: unknown) => gw.log.error({ event: 'audit_failed', code: 'TIQ_ERR_AUDIT', reason: (err as Error).message }, 'cannot append to the audit log');
    const audit = gw.admin?.audit;
    try {
      if (audit instanceof AuditLog) audit.append(entry);
      else audit?.commit(entry).catch(failed);
    } catch (err) {
      failed(err);
    }
  }
  const host = WILDCARD_HOSTS.has(gw.config.admin.host) ? '127.0.0.1' : gw.config.admin.host;
  // The server certificate names serverHosts; when it does not name the host the CLI dials, verify against its first name.
  const hosts = gw.config.mqtt.serverHosts;
  const servername = hosts.includes(host) ? undefined : hosts[0];
  lock.publishAdmin({
    url: `https://${host.includes(':') ? `[${host}]` : host}:${mtlsPort}`,
    caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile, ...(servername ? { servername } : {}),
  });
}

/** A shred is an erasure: the device's retained message, a plaintext copy in the broker, goes with its keys. */
function withRetainedCleared(keys: AdminDeps['keys'], gw: Pick<AdminSources, 'retained'>): AdminDeps['keys'] {
  return {
    ...keys,
    shred: async (tenantId, deviceId, actor) => {
      gw.retained.clearDevice(tenantId, deviceId);
      return keys.shred(tenantId, deviceId, actor);
    },
  };
}
