/**
 * What the control store holds: the operator-owned state of the gateway, one
 * kind per registry, each value keyed by a string (usually `tenant/device`).
 * Plain JSON values only; this module imports nothing, so every layer may
 * depend on it without creating a cycle.
 */

export interface RestrictionValue {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly mode: 'drop' | 'refuse';
  readonly sinceMs: number;
  readonly actor: string;
  readonly reason: string;
}

/** A revoked certificate (the CA's files keep what was issued; revocation is operator state). */
export interface RevocationValue {
  /** Lower-case hex without leading zeros. */
  readonly serial: string;
  readonly uri: string;
  readonly revokedAt: string;
  readonly revokedBy: string;
}

/** A certificate the gateway's CA issued (the certificate files and the CA key stay with the CA). */
export interface IssuedCertificateValue {
  /** Lower-case hex without leading zeros. */
  readonly serial: string;
  readonly uri: string;
  readonly kind: 'device' | 'app' | 'operator' | 'server';
  readonly tenantId?: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
  /** Who had it issued (`system` for the server and local operator certificates). */
  readonly issuedBy: string;
}

/** An app grant (the config schema validates its shape), or null: deleted through the API. */
export interface TenantAppValue { readonly grant: unknown }
/** A device group's members, or null: deleted through the API. */
export interface TenantGroupValue { readonly devices: readonly string[] | null }
export interface TenantDeviceValue { readonly registeredAt: string; readonly registeredBy: string; readonly note?: string }
export interface PolicyValue { readonly policy: unknown }

export interface PrivateModeValue {
  readonly on: boolean;
  readonly timeMs: number;
  readonly actor: string;
  readonly source: 'message' | 'control-topic' | 'api' | 'cli';
}

export interface ObjectionValue {
  readonly timeMs: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly purpose: string;
  readonly actor: string;
  readonly reason: string;
}

export interface RetentionRuleValue {
  readonly tenantId: string;
  readonly stream: string;
  /** '' for the stream's rule. */
  readonly deviceGroup: string;
  readonly retentionClass: string;
  readonly days: number;
  readonly changedAtMs: number;
}

export interface LegalHoldValue {
  readonly tenantId: string;
  /** '' for the whole tenant. */
  readonly deviceId: string;
  /** false: an explicit release (overrides a hold in the config file). */
  readonly held: boolean;
  readonly changedAtMs: number;
}

/** A crypto-shred happened: every process evicts the device's cached data keys. Names no key material. */
export interface ShredValue {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly atMs: number;
  readonly receiptId: string;
  readonly destroyedCount: number;
}

/**
 * A tenant's KEK version as recorded when it was made primary (rotation, or
 * the one-time import of the keyring). Metadata only: never key material.
 */
export interface KekVersionValue {
  readonly tenantId: string;
  /** The provider's reference, e.g. `local:acme:v3` or `aws-kms:<key ARN>`. */
  readonly kekRef: string;
  readonly primary: boolean;
  readonly createdAtMs: number;
  readonly actor: string;
}

/**
 * The audit chain's head after a group commit: a log file later found with
 * fewer entries, or another entry at this sequence, was truncated, emptied,
 * deleted or re-chained. Keyed by host and log path.
 */
export interface AuditHeadValue {
  readonly seq: number;
  readonly hash: string;
  /** Time of the commit that made this the head. */
  readonly time: string;
  /** Entries in the log (the chain starts at sequence 1, so equal to seq). */
  readonly entries: number;
}

/**
 * A fleet provisioning claim: a tenant-scoped credential (its certificate
 * carries `urn:thingiq:tenant:<t>:claim:<c>`) with which a new device
 * submits its CSR and receives its own certificate, within a template.
 * Keyed `tenant/claim`.
 */
export interface ProvisioningClaimValue {
  readonly tenantId: string;
  readonly claimId: string;
  /** Device ids it may register: a glob over ids, `*` any run of id characters, `?` one. */
  readonly deviceIdPattern: string;
  /** Device group every registered device joins; absent: none. */
  readonly deviceGroup?: string;
  readonly maxDevices: number;
  /** After this the claim registers nothing (ISO 8601). */
  readonly expiresAt: string;
  /** Validity of the device certificates it obtains, days. */
  readonly certificateDays: number;
  /** Serial of the claim's certificate (lower-case hex without leading zeros). */
  readonly serial: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
}

/** One device registered through a claim: counts against its maxDevices. Keyed `tenant/claim/device`. */
export interface ProvisioningRegistrationValue {
  readonly tenantId: string;
  readonly claimId: string;
  readonly deviceId: string;
  /** The device certificate issued; '' while the registration is being made. */
  readonly serial: string;
  readonly registeredAt: string;
}

/** Marks a one-time import (of the files older versions kept) as done. */
export interface ImportValue { readonly atMs: number; readonly counts: Readonly<Record<string, number>> }

export interface ControlValues {
  'restriction': RestrictionValue;
  'revocation': RevocationValue;
  'certificate': IssuedCertificateValue;
  'tenant-app': TenantAppValue;
  'tenant-group': TenantGroupValue;
  'tenant-device': TenantDeviceValue;
  'policy': PolicyValue;
  'private-mode': PrivateModeValue;
  'objection': ObjectionValue;
  'retention-rule': RetentionRuleValue;
  'legal-hold': LegalHoldValue;
  'shred': ShredValue;
  'kek-version': KekVersionValue;
  'audit-head': AuditHeadValue;
  'import': ImportValue;
  'provisioning-claim': ProvisioningClaimValue;
  'provisioning-registration': ProvisioningRegistrationValue;
}

export type ControlKind = keyof ControlValues;

export const CONTROL_KINDS: readonly ControlKind[] = [
  'restriction', 'revocation', 'certificate', 'tenant-app', 'tenant-group', 'tenant-device', 'policy',
  'private-mode', 'objection', 'retention-rule', 'legal-hold', 'shred', 'kek-version', 'audit-head', 'import',
  'provisioning-claim', 'provisioning-registration',
];

/** Key of a per-device entry. Ids never contain '/' (ID_PATTERN), so the key is unambiguous. */
export const deviceKey = (tenantId: string, deviceId: string): string => `${tenantId}/${deviceId}`;
