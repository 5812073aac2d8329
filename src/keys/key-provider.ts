/**
 * The seam to a tenant's key-encryption keys (KEKs). Implementations register
 * by name ("local", "aws-kms"). A provider never sees payloads; it makes,
 * wraps and unwraps 256-bit data keys (DEKs).
 */
export interface GeneratedDataKey {
  /** 32 random bytes. Callers zero it when retired. */
  readonly plaintext: Buffer;
  /** The DEK wrapped under the tenant's primary KEK. */
  readonly wrapped: Buffer;
  /** Which KEK version wrapped it, e.g. "local:acme:v3" or a KMS key ARN. */
  readonly kekRef: string;
}

export interface KeyProvider {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  generateDataKey(tenantId: string): Promise<GeneratedDataKey>;
  unwrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer>;
  /** Re-wraps under the primary KEK without exposing the DEK to the caller. */
  rewrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }>;
  /**
   * Makes a new KEK version primary for new DEKs; older versions stay usable
   * for unwrap. `changed: false` when rotation happens outside the gateway
   * (aws-kms: KMS-side rotation or a new configured key; `note` says how).
   */
  rotate(tenantId: string): Promise<RotateResult>;
  /** The KEK reference new DEKs are wrapped under. */
  primaryKekRef(tenantId: string): Promise<string>;
  /** The tenant's KEK versions known to the provider (for `keys status`). */
  describeKeks(tenantId: string): Promise<KekVersionInfo[]>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  /**
   * Re-reads what another process may have changed (a rotation it made),
   * so the next DEK is wrapped under the current primary. Optional: a
   * provider whose primary lives elsewhere (KMS) has nothing to re-read.
   */
  refresh?(tenantId: string): Promise<void>;
}

export interface RotateResult {
  readonly kekRef: string;
  readonly changed: boolean;
  readonly note?: string;
}

export interface KekVersionInfo {
  readonly kekRef: string;
  readonly primary: boolean;
  /** Undefined when the provider cannot tell. */
  readonly createdAtMs: number | undefined;
}

/** Where wrapped DEKs live. Deleting a device's entries crypto-shreds its records. */
export interface WrappedDataKey {
  readonly dekId: string;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly kekRef: string;
  readonly wrapped: Buffer;
  readonly createdAtMs: number;
}

export interface DataKeyStore {
  putDataKey(key: WrappedDataKey): Promise<void>;
  /** Several keys in one transaction (one durable write for a burst of new devices); absent: one putDataKey each. */
  putDataKeys?(keys: readonly WrappedDataKey[]): Promise<void>;
  getDataKey(tenantId: string, dekId: string): Promise<WrappedDataKey | undefined>;
  listDataKeys(tenantId: string, options?: { deviceId?: string; afterDekId?: string; limit?: number }): Promise<WrappedDataKey[]>;
  updateWrappedDataKey(tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void>;
  /** Destroys every DEK of the device; returns the destroyed ids. */
  deleteDataKeys(tenantId: string, deviceId: string): Promise<string[]>;
}
