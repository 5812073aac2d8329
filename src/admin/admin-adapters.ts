/**
 * Adapters from the gateway's components to AdminDeps, for the parts whose
 * APIs are settled: PKI directory, tenant config, privacy engine, retention
 * service, key context, record export. Record deletion for erasure is
 * passed in: the storage sink has no delete-by-device yet (docs/admin.md).
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { GatewayConfig } from '../config/schema.ts';
import type { ControlStore } from '../control/control-store.ts';
import { controlRetentionState, storedHold } from '../control/retention-state.ts';
import { recordShred } from '../control/shred-tombstone.ts';
import { shredDevice } from '../keys/crypto-shred.ts';
import type { KeyContext } from '../keys/key-context.ts';
import { joinRecordedKeks, recordedKeks, recordKekRotation, type WithRecord } from '../control/kek-versions.ts';
import type { RotateResult } from '../keys/key-provider.ts';
import { rewrapTenantKeys, rotateTenantKey, tenantKeyStatus, type KekStatus, type TenantKeyStatus } from '../keys/key-rotation.ts';
import { IssuanceRegistry } from '../pki/issuance-registry.ts';
import { DEFAULT_KEY_TYPE, newKeyPairAsync, type KeyType } from '../pki/certificates.ts';
import { issueIdentity, pkiPaths } from '../pki/pki-store.ts';
import type { ReloadablePrivacyEngine } from '../privacy/privacy-engine.ts';
import type { RetentionService, SinkDirectory } from '../retention/retention-service.ts';
import { exportRecords, type DecodeRecord, type OpenRecord } from '../sinks/record-export.ts';
import type { AdminKeys, AdminPki, AdminPrivacy, AdminRecords, AdminRetention, AdminTenantChanges, AdminTenants, AppGrantInput } from './admin-deps.ts';
import type { TenantOverrides, TenantOverridesState } from './tenant-overrides.ts';

/** `keyType`: of key pairs generated for callers that send no CSR (config pkiKeyType). */
export function pkiAdmin(pkiDir: string, control: ControlStore, keyType: KeyType = DEFAULT_KEY_TYPE): AdminPki {
  const paths = pkiPaths(pkiDir);
  const registry = new IssuanceRegistry(paths.registry, control);
  return {
    // The certificate only: a cluster node without the CA key serves the API and issues nothing (issue() then fails with TIQ_ERR_PKI).
    caCertPem: readFileSync(paths.caCert, 'utf8'),
    serverCertPem: readFileSync(paths.serverCert, 'utf8'),
    serverKeyPem: readFileSync(paths.serverKey, 'utf8'),
    listCertificates: (tenantId) => registry.list({ tenantId }),
    // The control store's replica: a revocation by any process is there as soon as the feed delivers it.
    isRevoked: (serial) => registry.isRevoked(serial),
    issue: async (identity, o, actor) => {
      // A new key pair is made on libuv's thread pool (RSA-2048 takes 50-500 ms), never on the event loop.
      const made = o.publicKeyPem ? undefined : await newKeyPairAsync(o.keyType ?? keyType);
      const publicKeyPem = o.publicKeyPem ?? made!.publicKeyPem;
      const issued = issueIdentity(pkiDir, identity, undefined, { publicKeyPem, ...(o.days ? { days: o.days } : {}) }, false);
      await registry.record(issued.record, actor);
      return made ? { ...issued, keyPem: made.privateKeyPem } : issued;
    },
    revoke: (match, actor) => registry.revoke(match, actor),
  };
}

/** `config` is read on every call, so a reload is seen at once. */
export function tenantsAdmin(config: () => GatewayConfig): AdminTenants {
  return {
    ids: () => Object.keys(config().tenants).sort(),
    get: (id) => {
      const c = config();
      const t = Object.hasOwn(c.tenants, id) ? c.tenants[id] : undefined;
      if (!t) return undefined;
      return { id, active: t.active, streams: [...new Set([...Object.keys(c.streams), ...Object.keys(t.streams)])].sort(), deviceGroups: t.deviceGroups, apps: t.apps };
    },
  };
}

export interface TenantChange {
  readonly actor: string;
  /** Audit verb, e.g. `apps.put`. */
  readonly action: string;
  readonly tenantId: string;
  readonly target: string;
}

/** Validates a staged state like a reload, then commits it and puts it in force (the gateway: Gateway.changeTenants). */
export type ApplyTenantChange = (next: TenantOverridesState, change: TenantChange) => Promise<void>;

export function tenantChangesAdmin(store: TenantOverrides, apply: ApplyTenantChange): AdminTenantChanges {
  const grantOf = (g: AppGrantInput) => ({ ...(g.streams ? { streams: [...g.streams] } : {}), ...(g.deviceGroups ? { deviceGroups: [...g.deviceGroups] } : {}), ...(g.events ? { events: true } : {}) });
  return {
    putApp: (t, a, grant, actor) => apply(store.withApp(t, a, grantOf(grant)), { actor, action: 'apps.put', tenantId: t, target: `app:${a}` }),
    deleteApp: (t, a, actor) => apply(store.withApp(t, a, null), { actor, action: 'apps.delete', tenantId: t, target: `app:${a}` }),
    putDeviceGroup: (t, g, devices, actor) => apply(store.withGroup(t, g, devices), { actor, action: 'device-groups.put', tenantId: t, target: `device-group:${g}` }),
    deleteDeviceGroup: (t, g, actor) => apply(store.withGroup(t, g, null), { actor, action: 'device-groups.delete', tenantId: t, target: `device-group:${g}` }),
    // Registration changes no config: nothing to validate or reload.
    registerDevice: (t, d, device) => store.commit(store.withDevice(t, d, device), device.registeredBy),
    registeredDevices: (t) => store.devices(t),
  };
}

export function privacyAdmin(
  config: () => GatewayConfig, engine: ReloadablePrivacyEngine,
  overrides: { get(tenantId: string): unknown; put: AdminPrivacy['put'] },
): AdminPrivacy {
  return {
    policyOf: (id) => overrides.get(id) ?? config().tenants[id]?.privacy ?? config().privacy,
    inForce: (id) => engine.policyOf(id),
    put: overrides.put,
  };
}

export function retentionAdmin(service: RetentionService, sinks: SinkDirectory, control?: ControlStore, intervalMs?: number): AdminRetention {
  const state = control ? controlRetentionState(control) : undefined;
  return {
    async describe(tenantId) {
      const sink = sinks.sinkFor(tenantId);
      // Rules and holds live in the control store when there is one (older versions kept them in the sink).
      const rules = (state ? state.rules() : await sink.listRetentionRules()).filter((r) => r.tenantId === tenantId)
        .map(({ stream, deviceGroup, retentionClass, days, changedAtMs }) => ({ stream, deviceGroup, retentionClass, days, changedAtMs }));
      const holds = (state ? state.holds() : await sink.listLegalHolds()).filter((h) => h.tenantId === tenantId)
        .map(({ deviceId, held, changedAtMs }) => ({ deviceId, held, changedAtMs }));
      return { rules, holds };
    },
    setRule: (req) => service.setRule(req),
    setHold: (req) => service.setHold(req),
    sweep: async () => {
      const { deleted, partitionsDropped } = await service.sweep();
      return { deleted, partitionsDropped };
    },
    isHeld: (tenantId, deviceId) => service.policy.isHeld(tenantId, deviceId),
    // A stored hold the feed has not brought yet still counts; a release not yet applied does not (refused once more, never erased under a hold).
    isHeldNow: async (tenantId, deviceId) => {
      if (control) {
        await control.catchUp();
        if (storedHold(control, tenantId, deviceId) === true) return true;
      }
      return service.policy.isHeld(tenantId, deviceId);
    },
    sweeperStatus: () => ({ intervalMs, lastSweep: service.lastSweep }),
  };
}

/**
 * Rotates the tenant's KEK and records the new primary in the control store
 * (metadata only), so every gateway following the feed wraps new data keys
 * under it at once.
 */
export async function rotateAndRecord(ctx: KeyContext, control: ControlStore, tenantId: string, actor: string): Promise<RotateResult> {
  const result = await rotateTenantKey(ctx, tenantId);
  // Only a version the gateway made has a creation time to look up; a KMS key is described by KMS.
  const known = result.changed ? await ctx.provider.describeKeks(tenantId) : [];
  const createdAtMs = known.find((k) => k.kekRef === result.kekRef)?.createdAtMs;
  await recordKekRotation(control, { tenantId, kekRef: result.kekRef, createdAtMs, actor, known });
  return result;
}

/** `keys status` with what the control store recorded about each version (who made it primary, when). */
export async function keyStatusWithRecords(ctx: KeyContext, control: ControlStore, tenantId: string, now = Date.now()): Promise<TenantKeyStatus & { keks: WithRecord<KekStatus>[] }> {
  const status = await tenantKeyStatus({ ...ctx, providerName: ctx.provider.providerFor(tenantId).name }, tenantId, now);
  const keks = joinRecordedKeks(status.keks, recordedKeks(control, tenantId),
    (r): KekStatus => ({ kekRef: r.kekRef, primary: false, createdAtMs: r.createdAtMs, ageMs: now - r.createdAtMs, dataKeys: 0, deviceKeks: 0 }));
  return { ...status, keks };
}

export function keysAdmin(ctx: KeyContext, control: ControlStore): AdminKeys {
  return {
    status: (t) => keyStatusWithRecords(ctx, control, t),
    rotate: (t, actor = 'unknown') => rotateAndRecord(ctx, control, t, actor),
    rewrap: (t, o = {}) => rewrapTenantKeys(ctx, t, { ...(o.afterDekId ? { afterDekId: o.afterDekId } : {}), ...(o.all ? { all: true } : {}), ...(o.limit ? { limit: o.limit } : {}) }),
    shred: async (t, d, actor) => {
      const receipt = await shredDevice(ctx, { tenantId: t, deviceId: d, actor });
      await recordShred(control, receipt);
      return receipt;
    },
  };
}

export interface RecordsAdminOptions {
  readonly sinks: SinkDirectory;
  readonly openRecord: OpenRecord;
  readonly decode: DecodeRecord;
  /** Deletes a device's records in its tenant's sink; returns how many. */
  readonly deleteDeviceRecords: (tenantId: string, deviceId: string) => Promise<number>;
}

export function recordsAdmin(o: RecordsAdminOptions): AdminRecords {
  return {
    countDevice: (t, d) => o.sinks.sinkFor(t).countRecords({ tenantId: t, deviceId: d }),
    exportDevice: (t, d, out: Writable) => exportRecords(o.sinks.sinkFor(t), { tenantId: t, deviceId: d }, out, { format: 'ndjson', openRecord: o.openRecord, decode: o.decode }),
    eraseDevice: async (t, d) => ({ deletedRecords: await o.deleteDeviceRecords(t, d) }),
  };
}
