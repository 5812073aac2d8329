/**
 * What PostgreSQL holds, checked against what the devices were told: every
 * acknowledged (device, stream, sequence) stored exactly once.
 */
import pg from 'pg';

export interface StoredCheck {
  /** Acknowledged sequences with no row. */
  readonly missing: string[];
  /** (device, sequence) pairs with more than one row, acknowledged or not. */
  readonly duplicated: string[];
  readonly rows: number;
}

export async function storedCounts(url: string, tenantId: string, stream: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ device_id: string; sequence: string; n: string }>(
      'SELECT device_id, sequence, count(*) AS n FROM tiq_records WHERE tenant_id = $1 AND stream = $2 GROUP BY device_id, sequence',
      [tenantId, stream]);
    return new Map(rows.map((r) => [`${tenantId}/${r.device_id}#${r.sequence}`, Number(r.n)]));
  } finally {
    await client.end();
  }
}

export async function checkExactlyOnce(url: string, acked: Map<string, Set<number>>, stream = 'sensor'): Promise<StoredCheck> {
  const tenants = new Set([...acked.keys()].map((k) => k.split('/')[0]!));
  const counts = new Map<string, number>();
  for (const t of tenants) for (const [k, n] of await storedCounts(url, t, stream)) counts.set(k, n);
  const missing: string[] = [];
  for (const [device, seqs] of acked) for (const s of seqs) if (!counts.has(`${device}#${s}`)) missing.push(`${device}#${s}`);
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  return { missing, duplicated, rows: [...counts.values()].reduce((a, b) => a + b, 0) };
}
