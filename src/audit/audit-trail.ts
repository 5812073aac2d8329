/**
 * What the admin API and the gateway need of an audit log: the file log of a
 * single process (audit-log.ts) or, in cluster mode, the chain every node
 * appends to in PostgreSQL (src/cluster/pg-audit-chain.ts).
 */
import type { AuditAggregator } from './audit-aggregator.ts';
import type { AuditEntry, AuditInput } from './audit-entry.ts';
import type { Pseudonymizer } from './pseudonym.ts';
import type { AuditVerification } from './verify-audit-log.ts';

export interface AuditQuery {
  readonly tenant?: string;
  readonly action?: string;
  readonly actor?: string;
  /** Entries with seq greater than this. */
  readonly afterSeq?: number;
  readonly limit?: number;
}

export interface AuditTrail {
  readonly pseudonyms: Pseudonymizer;
  readonly aggregator: AuditAggregator;
  /** Resolves once the entry is durable (group commit); rejects TIQ_ERR_AUDIT. */
  commit(input: AuditInput): Promise<AuditEntry>;
  query(q?: AuditQuery): AuditEntry[] | Promise<AuditEntry[]>;
  verify(): AuditVerification | Promise<AuditVerification>;
  /** For readiness; never throws. */
  health(): { ok: boolean; detail?: string } | Promise<{ ok: boolean; detail?: string }>;
  close?(): Promise<void>;
}
