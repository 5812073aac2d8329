/**
 * What the admin API needs from the gateway: narrow interfaces, one per
 * area, so the API never reaches into the gateway's internals and tests can
 * build it from real pieces. docs/admin.md ("Wiring") says which gateway
 * object fills each one; admin-adapters.ts has the adapters that exist.
 */
import type { LastSweep } from '../retention/retention-service.ts';
import type { Writable } from 'node:stream';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { Identity } from '../identity/identity.ts';
import type { IssuedPem, KeyType } from '../pki/certificates.ts';
import type { ClaimRegistry } from '../pki/provisioning.ts';
import type { IssuedRecord } from '../pki/issuance-registry.ts';
import type { PrivateModeRegistry } from '../privacy/private-mode.ts';
import type { ObjectionRegistry } from './objection-registry.ts';
import type { ReplaySource } from './record-replay.ts';
import type { RegisteredDevice } from './tenant-overrides.ts';
import type { RestrictionRegistry } from './restriction-registry.ts';

export interface TenantView {
  readonly id: string;
  readonly active: boolean;
  readonly streams: readonly string[];
  readonly deviceGroups: Readonly<Record<string, readonly string[]>>;
  readonly apps: Readonly<Record<string, { readonly streams?: readonly string[] | undefined; readonly deviceGroups?: readonly string[] | undefined; readonly events?: boolean | undefined }>>;
}

/** The configured tenants, as in force now (after reloads). */
export interface AdminTenants {
  ids(): readonly string[];
  get(tenantId: string): TenantView | undefined;
}

export interface AppGrantInput {
  readonly streams?: readonly string[] | undefined;
  readonly deviceGroups?: readonly string[] | undefined;
  readonly events?: boolean | undefined;
}

/**
 * Apps, grants, device groups and device registration changed through the
 * API (TenantOverrides). Changes are validated like a config reload and are
 * in force for the next message; a refused one changes nothing and throws
 * TIQ_ERR_BAD_REQUEST with every problem. Callers check references first.
 */
export interface AdminTenantChanges {
  putApp(tenantId: string, appId: string, grant: AppGrantInput, actor: string): Promise<void>;
  deleteApp(tenantId: string, appId: string, actor: string): Promise<void>;
  putDeviceGroup(tenantId: string, group: string, devices: readonly string[], actor: string): Promise<void>;
  deleteDeviceGroup(tenantId: string, group: string, actor: string): Promise<void>;
  registerDevice(tenantId: string, deviceId: string, device: RegisteredDevice): Promise<void>;
  registeredDevices(tenantId: string): Readonly<Record<string, RegisteredDevice>>;
}

export interface AdminPki {
  /** The gateway's CA: trust anchor of the mTLS listener. */
  readonly caCertPem: string;
  /** The gateway's server certificate and key, presented by both listeners. */
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  listCertificates(tenantId: string): readonly IssuedRecord[];
  isRevoked(serial: string): boolean;
  /** Issues and records a client certificate (control store, with `actor`); with publicKeyPem the private key never exists here. */
  issue(identity: Identity, options: { publicKeyPem?: string; days?: number; keyType?: KeyType }, actor: string): Promise<IssuedPem>;
  /** Revokes and records; the MQTT listener drops live sessions of revoked serials. */
  revoke(match: { serial?: string; uri?: string }, actor: string): Promise<readonly IssuedRecord[]>;
}

/** Fleet provisioning by claim (src/pki/provisioning.ts). */
export interface AdminProvisioning {
  readonly claims: ClaimRegistry;
  /** Issues a claim's certificate (a day past its expiry, so a late device hears TIQ_ERR_CLAIM_EXPIRED); with publicKeyPem the key never exists here. */
  issueClaimCertificate(tenantId: string, claimId: string, expiresAt: Date, options: { publicKeyPem?: string; keyType?: KeyType }): Promise<IssuedPem>;
}

export interface AdminPrivacy {
  /** The tenant's privacy section in force (raw config), or undefined when it has none. */
  policyOf(tenantId: string): unknown;
  /** Policy id and version in force, as records carry them. */
  inForce(tenantId: string): { readonly policyId: string; readonly policyVersion: number } | undefined;
  /** Replaces the tenant's policy (validated; persisted; effective on the next message). Throws TIQ_ERR_POLICY_INVALID. */
  put(tenantId: string, policy: unknown, actor: string): Promise<{ readonly policyId: string; readonly policyVersion: number }>;
}

export interface RetentionView {
  readonly rules: readonly { readonly stream: string; readonly deviceGroup: string; readonly retentionClass: string; readonly days: number; readonly changedAtMs: number }[];
  readonly holds: readonly { readonly deviceId: string; readonly held: boolean; readonly changedAtMs: number }[];
}

export interface AdminRetention {
  describe(tenantId: string): Promise<RetentionView>;
  setRule(req: { tenantId: string; stream: string; days: number; retentionClass?: string; deviceGroup?: string; actor?: string }): Promise<{ retentionClass: string; retagged: number }>;
  setHold(req: { tenantId: string; deviceId?: string; held: boolean; actor?: string }): Promise<{ flagged: number }>;
  /** Deletes expired records that no legal hold covers, in every sink. */
  sweep(): Promise<{ deleted: number; partitionsDropped: number }>;
  /** The sweeper: its interval and the last sweep this gateway ran (absent: not reported). */
  sweeperStatus?(): { intervalMs: number | undefined; lastSweep: LastSweep | undefined };
  /** A legal hold covers the device's data (erasure is refused: GDPR Art. 17(3)(e)). */
  isHeld(tenantId: string, deviceId: string): boolean;
  /**
   * isHeld after reading what other processes committed to the control store
   * (a hold set through another gateway an instant ago binds this erasure).
   * Absent: isHeld is current by construction.
   */
  isHeldNow?(tenantId: string, deviceId: string): Promise<boolean>;
}

/** The hold check of the irreversible routes (erasure, shred). */
export async function heldNow(retention: AdminRetention, tenantId: string, deviceId: string): Promise<boolean> {
  return retention.isHeldNow ? retention.isHeldNow(tenantId, deviceId) : retention.isHeld(tenantId, deviceId);
}

export interface AdminKeys {
  status(tenantId: string): Promise<unknown>;
  /** `actor` is recorded with the new primary in the control store. */
  rotate(tenantId: string, actor?: string): Promise<unknown>;
  /** Resumable: `afterDekId` continues an earlier run; `all` also re-wraps data keys already under the primary reference. */
  rewrap(tenantId: string, options?: { afterDekId?: string; all?: boolean; limit?: number }): Promise<unknown>;
  /** Destroys the device's data keys; returns the receipt (key ids, never key material). */
  shred(tenantId: string, deviceId: string, actor: string): Promise<{ readonly receiptId: string; readonly destroyedCount: number; readonly destroyedDekIds: readonly string[]; readonly deviceKekRefs?: readonly string[] }>;
}

export interface AdminRecords {
  countDevice(tenantId: string, deviceId: string): Promise<number>;
  /** Decrypts and writes the device's records as NDJSON (record-export.ts); does not end `out`. */
  exportDevice(tenantId: string, deviceId: string, out: Writable): Promise<number>;
  /** Deletes the device's stored records (not their keys: erasure shreds those next). */
  eraseDevice(tenantId: string, deviceId: string): Promise<{ readonly deletedRecords: number }>;
}

/** Backups made by the running gateway (src/backup/), streamed to the caller. */
export interface AdminBackups {
  /** Writes an encrypted backup to a file of the gateway's; `discard` removes it once sent. */
  create(): Promise<{ readonly file: string; readonly bytes: number; readonly sha256: string; readonly files: number; discard(): void }>;
}

/** The cluster as the admin API lists it (src/cluster/cluster-runtime.ts). */
export interface AdminCluster {
  readonly nodeId: string;
  isLeader(): boolean;
  liveNodes(): number;
  members(): Promise<readonly { readonly nodeId: string; readonly host: string; readonly pid: number; readonly startedAt: string; readonly heartbeatAt: string; readonly live: boolean }[]>;
}

export interface HealthProbe {
  (): Promise<{ readonly ok: boolean; readonly detail?: string }>;
}

export interface AdminDeps {
  readonly tenants: AdminTenants;
  readonly tenantChanges: AdminTenantChanges;
  readonly pki: AdminPki;
  readonly privacy: AdminPrivacy;
  /** The gateway's registry (control store); toggles are recorded with source 'api'. */
  readonly privateMode: Pick<PrivateModeRegistry, 'isOn' | 'set'>;
  readonly retention: AdminRetention;
  readonly keys: AdminKeys;
  readonly records: AdminRecords;
  readonly restrictions: RestrictionRegistry;
  readonly objections: ObjectionRegistry;
  readonly audit: AuditTrail;
  /** Readiness probes by name (sinks, key providers, MQTT listener). */
  readonly probes: Readonly<Record<string, HealthProbe>>;
  /** Absent: POST /v1/backups answers 404. */
  readonly backups?: AdminBackups;
  /** Stored records for replay and tail (record-replay.ts); absent: those routes answer 404. */
  readonly replay?: ReplaySource;
  /** Absent: the provisioning routes answer 404. */
  readonly provisioning?: AdminProvisioning;
  /** Cluster mode's membership; absent without the `cluster` section. */
  readonly cluster?: AdminCluster;
  /** Prometheus exposition of the gateway's metrics. */
  readonly metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
}
