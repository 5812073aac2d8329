/**
 * Two gateways in cluster mode on one PostgreSQL (control store, telemetry
 * sink, keyring, device vault, audit chain), each with its own data
 * directory and no key files of its own: the same message published to
 * both is stored once (the idempotency digest key both derive from the
 * cluster secret; no node has an idempotency.key), a device's records sealed
 * on one open on the other (one tenant KEK, one device KEK), and both append
 * to one audit chain that verifies.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import type { AuditInput } from '../../src/audit/audit-entry.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { provisionSharedState } from './harness/shared-state.ts';

const available = await startTestPostgres();

async function count(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return Number((await c.query<{ n: string }>(sql)).rows[0]!.n); } finally { await c.end(); }
}

if (!available.ok) {
  describe.skip(`gateways in cluster mode (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;

  describe('two gateways in cluster mode sharing PostgreSQL', () => {
    const pki = new TestPki();
    let a: Awaited<ReturnType<typeof startGateway>>;
    let b: Awaited<ReturnType<typeof startGateway>>;
    let url = '';
    const dataDirs: string[] = [];
    const clients: MqttClient[] = [];

    beforeAll(async () => {
      const state = await provisionSharedState(server, pki.baseDir, { oneDatabase: true });
      url = state.controlUrl;
      // Nothing but the shared secrets and databases: no idempotency.key in any data directory.
      const node = (id: string) => {
        const n = state.node(id);
        dataDirs.push(n.dataDir);
        return {
          ...n,
          controlStore: { ...n.controlStore, pollIntervalMs: 600_000 },
          storage: { sinks: { default: { ...n.storage.sinks.default, durability: 'fsync', poolSize: 2 } } },
        };
      };
      a = await startGateway(pki, node('node-a'));
      b = await startGateway(pki, node('node-b'));
    }, 120_000);

    afterAll(async () => {
      for (const c of clients) c.end(true);
      await a?.gateway.close();
      await b?.gateway.close();
      await server.close();
    });

    it('the same message through both nodes is stored once; the device has one KEK; each node opens what the other sealed', async () => {
      const pem = pki.device('acme', 'truck-7');
      // A device that lost its PUBACK and reconnected to the other node resends the same bytes.
      const same = encode(VEHICLE, vehicle());
      for (const g of [a, b]) {
        const device = await connect(g.port, pem, { clientId: 'truck-7' });
        clients.push(device);
        await device.publishAsync('tenants/acme/devices/truck-7/location', same, { qos: 1 });
        await device.publishAsync('tenants/acme/devices/truck-7/location', encode(VEHICLE, vehicle()), { qos: 1 });
        await device.endAsync();
      }
      expect(await count(url, "SELECT count(*) AS n FROM tiq_records WHERE tenant_id = 'acme' AND device_id = 'truck-7'")).toBe(3);
      // The shared digest key came from the cluster secret: neither node asked for an idempotency.key or made one.
      expect(dataDirs.map((d) => existsSync(join(d, 'idempotency.key')))).toEqual([false, false]);
      expect(await count(url, "SELECT count(*) AS n FROM tiq_kek_versions WHERE tenant_id = 'acme'")).toBe(1);
      expect(await count(url, "SELECT count(*) AS n FROM tiq_device_keks WHERE tenant_id = 'acme' AND device_id = 'truck-7'")).toBe(1);
      const sink = new PostgresSink('reader', { connectionString: url, durability: 'fsync', poolSize: 1 });
      await sink.start();
      try {
        const records = await sink.queryRecords({ tenantId: 'acme', deviceId: 'truck-7' });
        expect(records).toHaveLength(3);
        for (const r of records) {
          const [viaA, viaB] = await Promise.all([a.gateway.keys.sealer.open(r), b.gateway.keys.sealer.open(r)]);
          expect(viaA.equals(viaB)).toBe(true);
        }
      } finally {
        await sink.close();
      }
    });

    it('both nodes append to one audit chain that verifies, each entry naming its node', async () => {
      const entry = (actor: string): AuditInput => ({ actor, role: 'operator', action: 'devices.revoke', target: 'device:x', tenant: 'acme', result: 'ok' });
      await Promise.all([a.gateway.admin!.audit.commit(entry('operator:a')), b.gateway.admin!.audit.commit(entry('operator:b'))]);
      const entries = await b.gateway.admin!.audit.query({ limit: 1000 });
      expect(entries.find((e) => e.actor === 'operator:a')).toMatchObject({ node: 'node-a' });
      expect(entries.find((e) => e.actor === 'operator:b')).toMatchObject({ node: 'node-b' });
      expect(await a.gateway.admin!.audit.verify()).toMatchObject({ ok: true, entries: entries.length });
      // One pseudonym per device, whichever node computes it.
      expect(a.gateway.admin!.audit.pseudonyms.device('acme', 'truck-7')).toBe(b.gateway.admin!.audit.pseudonyms.device('acme', 'truck-7'));
    });
  });
}
