/** The shared audit chain's tables and the statements that read and write its rows. */
import type pg from 'pg';
import type { AuditResult } from '../audit/audit-entry.ts';
import type { AuditQuery } from '../audit/audit-log.ts';
import type { ClusterAuditEntry } from '../audit/cluster-audit-entry.ts';

export const AUDIT_CHAIN_SCHEMA = `
CREATE TABLE IF NOT EXISTS tiq_audit_chain (
  seq bigint PRIMARY KEY,
  node text NOT NULL,
  time text NOT NULL,
  actor text NOT NULL,
  role text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  tenant text NOT NULL,
  result text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS tiq_audit_chain_by_tenant ON tiq_audit_chain (tenant, seq);
CREATE TABLE IF NOT EXISTS tiq_audit_head (
  id integer PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL,
  mac text NOT NULL
);
`;

const COLUMNS = ['seq', 'node', 'time', 'actor', 'role', 'action', 'target', 'tenant', 'result', 'detail', 'prev_hash', 'hash'] as const;

interface Row {
  seq: string; node: string; time: string; actor: string; role: string; action: string; target: string;
  tenant: string; result: string; detail: string; prev_hash: string; hash: string;
}

function fromRow(r: Row): ClusterAuditEntry {
  return {
    seq: Number(r.seq), time: r.time, node: r.node, actor: r.actor, role: r.role, action: r.action, target: r.target,
    tenant: r.tenant, result: r.result as AuditResult, detail: r.detail, prevHash: r.prev_hash, hash: r.hash,
  };
}

/** A group commit's entries in one statement, as arrays (one parameter per column). */
export async function insertEntries(c: pg.PoolClient, entries: readonly ClusterAuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const pick = <T>(f: (e: ClusterAuditEntry) => T): T[] => entries.map(f);
  await c.query(`INSERT INTO tiq_audit_chain (${COLUMNS.join(', ')})
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])`, [
    pick((e) => e.seq), pick((e) => e.node), pick((e) => e.time), pick((e) => e.actor), pick((e) => e.role), pick((e) => e.action),
    pick((e) => e.target), pick((e) => e.tenant), pick((e) => e.result), pick((e) => e.detail), pick((e) => e.prevHash), pick((e) => e.hash),
  ]);
}

/** Every entry in sequence order, a page at a time. */
export async function* auditRows(pool: pg.Pool, pageSize = 1000): AsyncGenerator<ClusterAuditEntry> {
  let after = -1;
  for (;;) {
    const { rows } = await pool.query<Row>('SELECT * FROM tiq_audit_chain WHERE seq > $1 ORDER BY seq LIMIT $2', [after, pageSize]);
    for (const r of rows) yield fromRow(r);
    if (rows.length < pageSize) return;
    after = Number(rows.at(-1)!.seq);
  }
}

export async function queryEntries(pool: pg.Pool, q: AuditQuery): Promise<ClusterAuditEntry[]> {
  const params: unknown[] = [q.afterSeq ?? 0];
  const where = ['seq > $1'];
  for (const [column, value] of [['tenant', q.tenant], ['action', q.action], ['actor', q.actor]] as const) {
    if (value === undefined) continue;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  }
  params.push(q.limit ?? 100);
  const { rows } = await pool.query<Row>(`SELECT * FROM tiq_audit_chain WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`, params);
  return rows.map(fromRow);
}
