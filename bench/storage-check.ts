/**
 * After the gateway's runs: every acknowledged message is in storage exactly
 * once. The load generator never reuses a sequence number within a run, so
 * loss shows as fewer rows than PUBACKs and a duplicate as a second row for
 * the same sequence (the sink's key also holds a content digest, so a
 * redelivery is caught by it, a restarted counter is not taken for one);
 * rows beyond the PUBACKs would mean records nobody was told about.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface StorageCheck {
  readonly status: 'ok' | 'mismatch' | 'no-database';
  readonly database: string;
  readonly acked: number;
  readonly rows: number;
  readonly distinctSequences: number;
  /** Devices whose stored count differs from their PUBACK count. */
  readonly devicesMismatched: number;
  readonly note?: string;
}

export function checkStorage(dbPath: string, tenantId: string, ackedByDevice: ReadonlyMap<string, number>): StorageCheck {
  const acked = [...ackedByDevice.values()].reduce((a, b) => a + b, 0);
  if (!existsSync(dbPath)) {
    return { status: 'no-database', database: dbPath, acked, rows: 0, distinctSequences: 0, devicesMismatched: ackedByDevice.size, note: 'the gateway wrote no SQLite database: storage is not wired into Gateway.start yet' };
  }
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const totals = db.prepare(`SELECT count(*) AS n, count(DISTINCT device_id || ':' || stream || ':' || sequence) AS d
      FROM tiq_records WHERE tenant_id = ?`).get(tenantId) as { n: number; d: number };
    const perDevice = db.prepare('SELECT device_id AS device, count(*) AS n FROM tiq_records WHERE tenant_id = ? GROUP BY device_id')
      .all(tenantId) as { device: string; n: number }[];
    const stored = new Map(perDevice.map((r) => [r.device, r.n]));
    let devicesMismatched = 0;
    for (const device of new Set([...ackedByDevice.keys(), ...stored.keys()])) {
      if ((ackedByDevice.get(device) ?? 0) !== (stored.get(device) ?? 0)) devicesMismatched++;
    }
    const ok = totals.n === acked && totals.d === totals.n && devicesMismatched === 0;
    return { status: ok ? 'ok' : 'mismatch', database: dbPath, acked, rows: totals.n, distinctSequences: totals.d, devicesMismatched };
  } finally {
    db.close();
  }
}
