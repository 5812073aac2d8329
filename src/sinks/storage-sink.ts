/**
 * The seam to durable storage. Implementations (SqliteSink, PostgresSink)
 * register by name and pass the same contract tests.
 */
import type { DataKeyStore } from '../keys/key-provider.ts';
import type { SealedRecord } from '../pipeline/message.ts';

export interface RecordQuery {
  readonly tenantId: string;
  readonly deviceId?: string;
  readonly stream?: string;
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Keyset pagination on (receivedAtMs, recordId). */
  readonly after?: { readonly receivedAtMs: number; readonly recordId: string };
  readonly limit?: number;
}

export interface WriteResult {
  /** Records newly stored. */
  readonly inserted: number;
  /** Redeliveries (same tenant, device, stream, sequence) that were already stored. */
  readonly duplicates: number;
}

export interface SinkHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface StorageSink extends DataKeyStore {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  health(): Promise<SinkHealth>;
  /** Commits all records durably (one transaction) or throws TIQ_ERR_STORE_UNAVAILABLE. */
  writeBatch(records: readonly SealedRecord[]): Promise<WriteResult>;
  queryRecords(query: RecordQuery): Promise<SealedRecord[]>;
  countRecords(query: RecordQuery): Promise<number>;
}
