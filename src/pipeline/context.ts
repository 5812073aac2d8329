/** What the pipeline's stages are given: the components they use, never the next stage. */
import type { TelemetryCodec } from '../messages/codec.ts';
import type { PrivacyEngine } from '../privacy/privacy-policy.ts';
import type { EncryptedPayload, SealedRecord } from '../records/message.ts';

export type { EncryptedPayload };


/** The encrypt stage's view of the keys module. Synchronous while the device's data key is cached. */
export interface RecordSealer {
  seal(input: {
    tenantId: string; deviceId: string; stream: string; recordId: string; plaintext: Buffer;
  }): EncryptedPayload | Promise<EncryptedPayload>;
}

export interface RetentionTags {
  readonly retentionClass: string;
  readonly expiresAtMs: number;
  readonly legalHold: boolean;
}

/**
 * The store stage's view of storage: resolves once the record is durably
 * committed, with 'duplicate' when it was stored before (a redelivery).
 */
export interface RecordWriter {
  write(record: SealedRecord): Promise<unknown>;
}

export interface PipelineContext {
  readonly codec: TelemetryCodec;
  /** The current policy engine (it may be swapped by a hot reload). */
  privacy(): PrivacyEngine;
  readonly sealer: RecordSealer | undefined;
  readonly writer: RecordWriter | undefined;
  retention(tenantId: string, stream: string, deviceId: string, receivedAtMs: number): RetentionTags;
  now(): number;
  readonly maxClockSkewMs: number;
  /** Keyed digest of a payload (src/keys/content-digest.ts); part of the idempotency key. */
  contentDigest(payload: Buffer): Buffer;
}
