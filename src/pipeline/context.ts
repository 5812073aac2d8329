/** What the pipeline's stages are given: the components they use, never the next stage. */
import type { TelemetryCodec } from '../messages/codec.ts';
import type { PrivacyEngine } from '../privacy/privacy-policy.ts';
import type { SealedRecord } from './message.ts';

/** What the encrypt stage adds to a record: the envelope fields of a SealedRecord. */
export type EncryptedPayload = Pick<SealedRecord, 'formatVersion' | 'dekId' | 'kekRef' | 'iv' | 'ciphertext' | 'tag'>;

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

/** The store stage's view of storage: resolves once the record is durably committed. */
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
  /** Told when the store found the record already stored (a device resent it): counted, not an error. */
  readonly onDuplicate?: (tenantId: string, stream: string) => void;
}
