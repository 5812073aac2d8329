/**
 * Entries of the one audit chain a cluster shares (docs/operations.md,
 * "Audit log in cluster mode"): the file log's entry plus the id of the node
 * that appended it. The MAC covers the node too (encoding version 3), and a
 * MACed head (sequence and hash of the last entry) is written with every
 * append, so a chain cut short at its end is found like one edited inside.
 */
import { createHmac } from 'node:crypto';
import type { AuditEntry, AuditInput } from './audit-entry.ts';

export interface ClusterAuditEntry extends AuditEntry {
  /** The gateway node that appended it (cluster.nodeId). */
  readonly node: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export function clusterCanonicalEncoding(e: Omit<ClusterAuditEntry, 'hash'>): string {
  // 3: keyed chain shared by the nodes of a cluster, with the node; 2 is the file log's.
  return JSON.stringify([3, e.seq, e.time, e.node, e.actor, e.role, e.action, e.target, e.tenant, e.result, e.detail, e.prevHash]);
}

export function hashClusterEntry(e: Omit<ClusterAuditEntry, 'hash'>, key: Buffer): string {
  return createHmac('sha256', key).update(clusterCanonicalEncoding(e), 'utf8').digest('hex');
}

export function sealClusterEntry(input: AuditInput, seq: number, time: string, node: string, prevHash: string, key: Buffer): ClusterAuditEntry {
  const body = {
    seq, time, node, actor: input.actor, role: input.role, action: input.action, target: input.target,
    tenant: input.tenant, result: input.result, detail: input.detail ?? '', prevHash,
  };
  return { ...body, hash: hashClusterEntry(body, key) };
}

/** The MAC of the chain's head: without the key, the head cannot be moved back over removed entries. */
export function headMac(head: ChainHead, key: Buffer): string {
  return createHmac('sha256', key).update(JSON.stringify(['thingiq.audit.head', 3, head.seq, head.hash]), 'utf8').digest('hex');
}
