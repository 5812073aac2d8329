/**
 * `thingiq backup restore` on a cluster node honours the erasures recorded
 * in the shared device key vault (PostgreSQL), not the node's own vault
 * file, and re-applies them to the PostgreSQL sink an operator brought back
 * from before the erasure: the real CLI, a real gateway node, a real
 * PostgreSQL (the sink database copied whole as the "dump").
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { clusterAuditTrail } from '../../src/cluster/cluster-state.ts';
import { PgDeviceKeyVault } from '../../src/cluster/pg-device-vault.ts';
import { parseConfig } from '../../src/config/load.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { encode, sensor, SENSOR } from '../helpers/telemetry.ts';
import { runCli } from '../cli/run-cli.ts';
import { decryptedLines } from './harness/admin.ts';
import { provisionSharedState } from './harness/shared-state.ts';

const available = await startTestPostgres();
afterAll(async () => { if (available.ok) await available.pg.close(); });

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return (await c.query<R>(text, values)).rows; } finally { await c.end(); }
}

const databaseOf = (url: string) => new URL(url).pathname.slice(1);
const adminOf = (url: string) => Object.assign(new URL(url), { pathname: '/postgres' }).toString();
const rowsOf = async (url: string, table: string, device: string) =>
  Number((await sql<{ n: string }>(url, `SELECT count(*) AS n FROM ${table} WHERE tenant_id = 'acme' AND device_id = $1`, [device]))[0]!.n);

(available.ok ? describe : describe.skip)('backup restore on a cluster node', () => {
  test('erasures in the shared vault (one whose control-store record was lost too) are re-applied to a sink restored from before them', async () => {
    if (!available.ok) return;
    const pki = new TestPki();
    const state = await provisionSharedState(available.pg, pki.baseDir);
    const node = state.node('node-a');
    const raw = { pkiDir: pki.dir, tenants: TEST_TENANTS, ...node };
    const configFile = join(pki.baseDir, 'node-a.yaml');
    writeFileSync(configFile, stringify(raw));

    // Records of three devices, stored through a cluster node.
    let g = await startGateway(pki, { ...node, controlStore: { ...node.controlStore, pollIntervalMs: 600_000 } });
    for (const device of ['truck-1', 'truck-2', 'truck-3']) {
      const c = await connect(g.port, pki.device('acme', device), { clientId: device });
      for (let i = 0; i < 2; i++) await c.publishAsync(`tenants/acme/devices/${device}/sensor`, encode(SENSOR, sensor()), { qos: 1 });
      await c.endAsync();
    }
    await g.gateway.close();
    expect(await rowsOf(state.sinkUrl, 'tiq_records', 'truck-1')).toBe(2);

    // The backup, and the sink's database copied whole as it was then (what pg_dump would hold).
    const backup = join(pki.baseDir, 'node-a.tiqbak');
    const made = await runCli(pki.baseDir, ['--config', configFile, 'backup', 'create', '--out', backup, '--json']);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const admin = adminOf(state.sinkUrl);
    const sink = databaseOf(state.sinkUrl);
    await sql(admin, `CREATE DATABASE ${sink}_dump TEMPLATE ${sink}`);

    // truck-1 is erased on the cluster; for truck-3 the node died after the vault's destroy, before the control store's record.
    const shred = await runCli(pki.baseDir, ['--config', configFile, 'keys', 'shred', '--tenant', 'acme', '--device', 'truck-1', '--yes']);
    expect(shred.code).toBe(0);
    const vault = await PgDeviceKeyVault.open(state.controlUrl);
    const receiptId = randomUUID();
    try {
      expect(await vault.destroy('acme', 'truck-3', { receiptId, atMs: Date.now() })).toHaveLength(1);
    } finally {
      await vault.close();
    }
    const recorded = await sql<{ key: string }>(state.controlUrl, "SELECT key FROM control_state WHERE kind = 'shred'");
    expect(recorded.map((r) => r.key)).toEqual(['acme/truck-1']);

    // Disaster: the sink comes back from its copy, with truck-1's and truck-3's keys and records.
    await sql(admin, `DROP DATABASE ${sink}`);
    await sql(admin, `CREATE DATABASE ${sink} TEMPLATE ${sink}_dump`);
    expect(await rowsOf(state.sinkUrl, 'tiq_data_keys', 'truck-3')).toBeGreaterThan(0);

    const restored = await runCli(pki.baseDir, ['--config', configFile, 'backup', 'restore', backup, '--force', '--json']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ tombstones: 2, tombstonesNewerThanBackup: 2 });
    for (const erased of ['truck-1', 'truck-3']) {
      for (const table of ['tiq_records', 'tiq_record_keys', 'tiq_data_keys']) expect(await rowsOf(state.sinkUrl, table, erased), `${erased} ${table}`).toBe(0);
    }
    expect(await rowsOf(state.sinkUrl, 'tiq_records', 'truck-2')).toBe(2);
    // The tombstone the control store had lost is recorded there again, for every node's feed.
    const after = await sql<{ key: string }>(state.controlUrl, "SELECT key FROM control_state WHERE kind = 'shred' ORDER BY key");
    expect(after.map((r) => r.key)).toEqual(['acme/truck-1', 'acme/truck-3']);

    // The restore is in the cluster's audit chain, which still verifies.
    const chain = (await clusterAuditTrail(parseConfig(raw, 'test')))!;
    try {
      expect((await chain.query()).filter((e) => e.action === 'backup.restore')).toHaveLength(1);
      expect((await chain.verify()).ok).toBe(true);
    } finally {
      await chain.close();
    }

    // Through the normal read path of a node: truck-2 opens, the erased devices have nothing.
    g = await startGateway(pki, { ...node, controlStore: { ...node.controlStore, pollIntervalMs: 600_000 } });
    try {
      const olga = pki.operator('olga');
      expect(await decryptedLines(g.gateway.adminPorts.mtlsPort, olga, 'acme', 'truck-2')).toBe(2);
      expect(await decryptedLines(g.gateway.adminPorts.mtlsPort, olga, 'acme', 'truck-1')).toBe(0);
      expect(await decryptedLines(g.gateway.adminPorts.mtlsPort, olga, 'acme', 'truck-3')).toBe(0);
    } finally {
      await g.gateway.close();
    }
  }, 180_000);
});
