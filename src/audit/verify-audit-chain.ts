/**
 * Verifies the cluster's shared audit chain (cluster-audit-entry.ts) the way
 * verify-audit-log.ts verifies the file log, with the same break reasons:
 * entries in sequence order from 1, each chained to the one before and
 * carrying its own MAC; then the MACed head, which must name the last entry
 * (`truncated` when entries after it were removed, `checkpoint` when the
 * head is missing or forged). Rows arrive a page at a time: memory does not
 * grow with the chain.
 */
import { GENESIS_HASH } from './audit-entry.ts';
import { hashClusterEntry, headMac, type ChainHead, type ClusterAuditEntry } from './cluster-audit-entry.ts';
import type { AuditBreak, AuditVerification } from './verify-audit-log.ts';

export interface StoredHead extends ChainHead {
  readonly mac: string;
}

function check(e: ClusterAuditEntry, head: ChainHead, key: Buffer): AuditBreak['reason'] | undefined {
  if (e.seq !== head.seq + 1) return 'sequence';
  if (e.prevHash !== head.hash) return 'chain';
  const { hash, ...body } = e;
  return hashClusterEntry(body, key) === hash ? undefined : 'hash';
}

export async function verifyAuditChain(entries: AsyncIterable<ClusterAuditEntry>, stored: StoredHead | undefined, key: Buffer): Promise<AuditVerification> {
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let position = 0;
  const fail = (reason: AuditBreak['reason']): AuditVerification =>
    ({ ok: false, entries: head.seq, head, firstBreak: { line: position, expectedSeq: head.seq + 1, reason } });
  for await (const e of entries) {
    position++;
    const broken = check(e, head, key);
    if (broken) return fail(broken);
    head = { seq: e.seq, hash: e.hash };
  }
  position++;
  if (!stored) return head.seq === 0 ? { ok: true, entries: 0, head } : fail('checkpoint');
  if (headMac({ seq: stored.seq, hash: stored.hash }, key) !== stored.mac) return fail('checkpoint');
  if (stored.seq > head.seq) return fail('truncated');
  if (stored.seq !== head.seq || stored.hash !== head.hash) return fail('checkpoint');
  return { ok: true, entries: head.seq, head };
}
