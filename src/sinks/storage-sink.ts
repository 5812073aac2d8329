/**
 * The seam to durable storage. Implementations (SqliteSink, PostgresSink)
 * register by name (sink-registry.ts) and pass the same contract tests
 * (test/sinks/sink-contract.test.ts).
 *
 * A sink stores SealedRecords (ciphertext only), the tenant's wrapped data
 * keys (DataKeyStore, so erasure can crypto-shred) and the operator's
 * retention rules and legal holds (so they survive restarts).
 */
import type { DataKeyStore } from '../keys/key-provider.ts';
import type { SealedRecord } from '../records/message.ts';

export interface RecordQuery {
  readonly tenantId: string;
  readonly deviceId?: string;
  readonly stream?: string;
  /** Inclusive lower bound on receivedAtMs. */
  readonly fromMs?: number;
  /** Exclusive upper bound on receivedAtMs. */
  readonly toMs?: number;
  /** Keyset pagination on (receivedAtMs, recordId), ascending. */
  readonly after?: { readonly receivedAtMs: number; readonly recordId: string };
  readonly limit?: number;
}

export type RecordOutcome = 'inserted' | 'duplicate';

export interface WriteResult {
  /** Records newly stored. */
  readonly inserted: number;
  /** Redeliveries (same tenant, device, stream, sequence) that were already stored. */
  readonly duplicates: number;
  /** Per input record, in input order. */
  readonly outcomes: readonly RecordOutcome[];
}

export interface SinkHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

/** Which records a re-tag or hold change applies to. */
export interface RecordSelection {
  readonly tenantId: string;
  readonly stream?: string;
  /** Only these devices. */
  readonly deviceIds?: readonly string[];
  /** All devices but these (devices governed by a more specific rule or hold). */
  readonly excludeDeviceIds?: readonly string[];
}

export interface RetentionTag {
  readonly retentionClass: string;
  /** expiresAtMs becomes receivedAtMs + durationMs. */
  readonly durationMs: number;
}

/** An operator-set rule, persisted; deviceGroup '' means the whole stream. */
export interface StoredRetentionRule {
  readonly tenantId: string;
  readonly stream: string;
  readonly deviceGroup: string;
  readonly retentionClass: string;
  readonly days: number;
  readonly changedAtMs: number;
}

/** An operator-set hold, persisted; deviceId '' means the whole tenant. held=false records a release. */
export interface StoredLegalHold {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly held: boolean;
  readonly changedAtMs: number;
}

export interface SweepResult {
  /** Expired, unheld records removed (row deletes plus rows of dropped partitions). */
  readonly deleted: number;
  /** Whole partitions dropped (PostgreSQL). */
  readonly partitionsDropped: number;
}

export interface RetentionStore {
  /** Re-tags matching records whose tag differs, in statements of at most batchSize rows. Returns rows changed. */
  retagRecords(selection: RecordSelection, tag: RetentionTag, batchSize: number): Promise<number>;
  /** Sets the legal-hold flag of matching records. Returns rows changed. */
  setRecordsLegalHold(selection: RecordSelection, held: boolean, batchSize: number): Promise<number>;
  /**
   * Deletes records with expiresAtMs <= nowMs that are neither flagged held nor
   * covered by a stored hold (a hold set while a write was in flight still protects it).
   */
  sweepExpired(nowMs: number, batchSize: number): Promise<SweepResult>;
  putRetentionRule(rule: StoredRetentionRule): Promise<void>;
  listRetentionRules(): Promise<StoredRetentionRule[]>;
  putLegalHold(hold: StoredLegalHold): Promise<void>;
  listLegalHolds(): Promise<StoredLegalHold[]>;
}

export interface StorageSink extends DataKeyStore, RetentionStore {
  readonly name: string;
  readonly type: string;
  start(): Promise<void>;
  close(): Promise<void>;
  health(): Promise<SinkHealth>;
  /**
   * Commits all records durably in one transaction or throws: TIQ_ERR_STORE_UNAVAILABLE
   * when retrying can help (nothing was written), another TiqError when a record was refused.
   */
  writeBatch(records: readonly SealedRecord[]): Promise<WriteResult>;
  /**
   * True when writeBatch may be called again before the last call resolved,
   * and the sink commits batches in the order it was given them (the SQLite
   * sink's writer thread). The batching writer then pipelines its batches.
   */
  readonly pipelinedWrites?: boolean;
  queryRecords(query: RecordQuery): Promise<SealedRecord[]>;
  countRecords(query: RecordQuery): Promise<number>;
  /**
   * Erasure (GDPR Art. 17): deletes every record of the device, legal hold
   * permitting (callers check the hold first), and forgets its redelivery keys.
   * Returns how many records were deleted.
   */
  deleteDeviceRecords(tenantId: string, deviceId: string): Promise<number>;
}
