/**
 * The message as it travels the ingest pipeline (docs/architecture.md, "The path of
 * one message"). Stages read and fill it; none of them calls the next.
 */

/** Decoded telemetry in protobuf.js plain-object form: lowerCamelCase field
 * names, 64-bit integers as numbers, absent optional fields absent. */
export type TelemetryBody = Record<string, unknown>;

export type PayloadEncoding = 'protobuf' | 'json';

/** Which policy was applied, travelling with the record and the forwarded message. */
export interface AppliedPolicy {
  readonly policyId: string;
  readonly policyVersion: number;
  /** What happened to location: keep | coarsen | strip | none (no location in the message). */
  readonly locationAction: 'keep' | 'coarsen' | 'strip' | 'none';
}

export interface IngestMessage {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  /** Fully qualified protobuf type of the stream, e.g. thingiq.telemetry.v1.VehicleLocation. */
  readonly messageType: string;
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  /**
   * When the gateway received it. The privacy stage floors it to the policy's
   * time step (with `timeStepMs`), so the stored receive time, expiry and
   * record id are no more precise than the device time the policy left.
   */
  receivedAtMs: number;
  /** The policy's time step, set by the privacy stage when the policy coarsens time. */
  timeStepMs?: number;
  /** The device's bytes until the privacy stage; the policy-applied encoding after it. */
  payload: Buffer;
  encoding: PayloadEncoding;
  /** Set by decode. */
  body: TelemetryBody | undefined;
  /** Device clock and per-device sequence, set by validate. */
  deviceTimeMs: number;
  sequence: number;
  /** Keyed digest of the device's bytes, set by decode: with the sequence, the idempotency key. */
  contentDigest: Buffer | undefined;
  /** Set by the privacy stage. */
  applied: AppliedPolicy | undefined;
  /** Set by the encrypt stage; the store stage writes it. */
  sealed: SealedRecord | undefined;
}

/**
 * A record as it reaches storage: ciphertext only, with everything needed to
 * decrypt it (given the key) and to govern it (retention tags).
 */
export interface SealedRecord {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  /** UUID version 7 (receive time + random bits, src/pipeline/record-id.ts); bound into the AAD. */
  readonly recordId: string;
  /**
   * With tenant, device, stream and contentDigest, the idempotency key: a
   * redelivery (same bytes) is stored once; a new message that reuses a
   * sequence number (the device restarted its counter) is stored too.
   */
  readonly sequence: number;
  readonly deviceTimeMs: number;
  readonly receivedAtMs: number;
  /** Envelope format version (see proto/thingiq/storage/v1/envelope.proto). */
  readonly formatVersion: number;
  /** The data key that sealed it (its wrapped form lives in the DataKeyStore). */
  readonly dekId: string;
  /** The tenant key (KEK) version that wraps that data key. */
  readonly kekRef: string;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
  readonly encoding: PayloadEncoding;
  readonly policyId: string;
  readonly policyVersion: number;
  /** Retention tags. */
  readonly retentionClass: string;
  readonly expiresAtMs: number;
  readonly legalHold: boolean;
  /**
   * Truncated HMAC of the device's payload under a per-installation secret
   * (src/keys/content-digest.ts); empty for records stored before it existed.
   */
  readonly contentDigest: Buffer;
}

/** A stage either lets the message continue or deliberately drops it (a value, not an exception). */
export type StageResult = { readonly kind: 'continue' } | { readonly kind: 'drop'; readonly reason: string };

export const CONTINUE: StageResult = Object.freeze({ kind: 'continue' });

/** What the encrypt stage adds to a record: the envelope fields of a SealedRecord. */
export type EncryptedPayload = Pick<SealedRecord, 'formatVersion' | 'dekId' | 'kekRef' | 'iv' | 'ciphertext' | 'tag'>;
/** The store stage found the message stored already: acknowledged, neither stored nor forwarded again. */
export const DUPLICATE: StageResult = Object.freeze({ kind: 'drop', reason: 'duplicate' });
