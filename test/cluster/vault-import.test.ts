/**
 * A gateway that ran as a single process (its device key vault a file)
 * and is then switched to cluster mode: its vault is moved into the shared
 * vault at the start, so the records it stored open through the normal read
 * path; erasures stay erased (its own, and one the cluster made before it
 * joined, which wins over the file's key); the move is audited, logged
 * without key material, done once. A real gateway, a real PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { PgDeviceKeyVault } from '../../src/cluster/pg-device-vault.ts';
import { isTiqError } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { DeviceKeyVault } from '../../src/keys/device-key-vault.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { encode, sensor, SENSOR } from '../helpers/telemetry.ts';
import { adminCall, decryptedLines } from './harness/admin.ts';
import { provisionSharedState } from './harness/shared-state.ts';

const available = await startTestPostgres();
afterAll(async () => { if (available.ok) await available.pg.close(); });

async function sharedKeks(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ d: string; g: number }>("SELECT device_id AS d, generation AS g FROM tiq_device_keks WHERE tenant_id = 'acme' ORDER BY device_id");
    return rows.map((r) => `${r.d}:${r.g}`);
  } finally {
    await c.end();
  }
}

/** Each stored record of the device opened by the node: 'ok' or the error code. */
async function opened(gateway: Gateway, url: string, device: string): Promise<string[]> {
  const sink = new PostgresSink('reader', { connectionString: url, durability: 'fsync', poolSize: 1 });
  await sink.start();
  try {
    const records = await sink.queryRecords({ tenantId: 'acme', deviceId: device });
    return (await Promise.all(records.map((r) => gateway.keys.sealer.open(r).then(() => 'ok', (e: unknown) => (isTiqError(e) ? e.code : 'other'))))).sort();
  } finally {
    await sink.close();
  }
}

function localVault<T>(file: string, read: (v: DeviceKeyVault) => T): T {
  const v = DeviceKeyVault.open(file);
  try { return read(v); } finally { v.close(); }
}

(available.ok ? describe : describe.skip)('a single gateway joining a cluster with its vault file', () => {
  test('its records open in cluster mode; erased devices stay erased; the move is audited once and names no key', async () => {
    if (!available.ok) return;
    const pki = new TestPki();
    const state = await provisionSharedState(available.pg, pki.baseDir);
    const node = state.node('edge-1');
    const vaultFile = join(state.keysDir, 'device-keys.db');
    const olga = pki.operator('olga');

    // Single process: its own SQLite control store and vault file, telemetry already in PostgreSQL.
    const single = await startGateway(pki, { dataDir: node.dataDir, keys: node.keys, storage: node.storage });
    for (const device of ['truck-1', 'truck-2', 'truck-3']) {
      const c = await connect(single.port, pki.device('acme', device), { clientId: device });
      for (let i = 0; i < 2; i++) await c.publishAsync(`tenants/acme/devices/${device}/sensor`, encode(SENSOR, sensor()), { qos: 1 });
      await c.endAsync();
    }
    expect((await adminCall(single.gateway.adminPorts.mtlsPort, olga, 'POST', '/v1/tenants/acme/devices/truck-2/keys/shred')).status).toBe(200);
    expect(await decryptedLines(single.gateway.adminPorts.mtlsPort, olga, 'acme', 'truck-1')).toBe(2);
    await single.gateway.close();
    const fileKeks = localVault(vaultFile, (v) => v.exportAll().keks);
    expect(fileKeks.map((k) => k.deviceId)).toEqual(['truck-1', 'truck-3']);

    // Meanwhile the cluster erased truck-3 (a tombstone in the shared vault, no key there yet).
    const shared = await PgDeviceKeyVault.open(state.controlUrl);
    try {
      expect(await shared.destroy('acme', 'truck-3', { receiptId: randomUUID(), atMs: Date.now() })).toEqual([]);
    } finally {
      await shared.close();
    }

    const clusterNode = { ...node, controlStore: { ...node.controlStore, pollIntervalMs: 600_000 } };
    const joined = await startGateway(pki, clusterNode);
    try {
      const moved = joined.logs.events('device_vault_imported');
      expect(moved).toHaveLength(1);
      expect(moved[0]).toMatchObject({ imported: 1, alreadyShared: 0, erased: 1, conflicts: 0, tombstones: 1 });
      // No key material in any log line: neither wrapping of the file's keys, in base64 or hex.
      const text = joined.logs.raw.join('\n');
      for (const k of fileKeks) for (const enc of ['base64', 'hex'] as const) expect(text).not.toContain(k.wrapped.toString(enc).slice(0, 24));
      expect(await sharedKeks(state.controlUrl)).toEqual(['truck-1:1']);
      const port = joined.gateway.adminPorts.mtlsPort;
      expect(await decryptedLines(port, olga, 'acme', 'truck-1')).toBe(2);
      for (const erased of ['truck-2', 'truck-3']) {
        expect(await opened(joined.gateway, state.sinkUrl, erased)).toEqual(['TIQ_ERR_KEY_SHREDDED', 'TIQ_ERR_KEY_SHREDDED']);
      }
      const audited = (await joined.gateway.admin!.audit.query({ limit: 1000 })).filter((e) => e.action === 'keys.vault.import');
      expect(audited).toHaveLength(1);
      expect(audited[0]).toMatchObject({ actor: 'system', result: 'ok' });
      // Moved, not copied: the file keeps no device key a later erasure in the cluster would miss.
      expect(localVault(vaultFile, (v) => v.exportAll().keks)).toEqual([]);
    } finally {
      await joined.gateway.close();
    }

    // A restart moves nothing again; a device new to the cluster gets a generation its old key never had.
    const again = await startGateway(pki, clusterNode);
    try {
      expect(again.logs.events('device_vault_imported')).toEqual([]);
      expect((await again.gateway.admin!.audit.query({ limit: 1000 })).filter((e) => e.action === 'keys.vault.import')).toHaveLength(1);
      expect(await decryptedLines(again.gateway.adminPorts.mtlsPort, olga, 'acme', 'truck-1')).toBe(2);
      const c = await connect(again.port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' });
      await c.publishAsync('tenants/acme/devices/truck-2/sensor', encode(SENSOR, sensor()), { qos: 1 });
      await c.endAsync();
      expect(await sharedKeks(state.controlUrl)).toEqual(['truck-1:1', 'truck-2:2']);
      expect(await opened(again.gateway, state.sinkUrl, 'truck-2')).toEqual(['TIQ_ERR_KEY_SHREDDED', 'TIQ_ERR_KEY_SHREDDED', 'ok']);
    } finally {
      await again.gateway.close();
    }
  }, 180_000);
});
