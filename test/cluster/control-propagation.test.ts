/**
 * Failure suite: operator changes made through one node's admin API reach
 * every other node within a second, through the PostgreSQL control store's
 * change feed (LISTEN/NOTIFY; docs/control-store.md). Then PostgreSQL
 * stops: no PUBACK while it is down, the backlog commits once it is back
 * (each message once) and the nodes' caches follow the feed again.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, subscribe } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { decode, encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { adminCall, decryptedLines } from './harness/admin.ts';
import { startCluster, type Cluster } from './harness/cluster.ts';
import { waitUntil } from './harness/processes.ts';
import { checkExactlyOnce } from './harness/records.ts';

const WITHIN = { timeout: 1000, interval: 20 };

describe('cluster: a change made on one node is in force on all within a second', () => {
  let cluster: Cluster;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    cluster = await startCluster();
    op = cluster.pki.operator('olga');
  }, 240_000);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await cluster?.close();
  }, 60_000);

  const viaNode1 = (method: string, path: string, body?: unknown) => adminCall(cluster.nodes[0]!.ports.adminMtls, op, method, path, body);
  /** A client placed on node i (0-based) through HAProxy's per-node frontend. */
  async function on(i: number, pem: ClientPem, clientId: string): Promise<MqttClient> {
    const c = await connect(cluster.haproxy.ports.perNode[i]!, pem, { clientId, servername: 'localhost' });
    clients.push(c);
    return c;
  }
  const others = () => cluster.nodes.slice(1);

  it('revocation: the device\'s sessions on the other nodes close and it is refused there', async () => {
    const pem = cluster.pki.device('acme', 'rev-1');
    const sessions = [await on(1, pem, 'rev-1')];
    const closed = sessions.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    expect((await viaNode1('POST', '/v1/tenants/acme/devices/rev-1/revoke', {})).status).toBe(200);
    await vi.waitFor(() => expect(cluster.nodes[1]!.events('revoked_disconnect').length).toBeGreaterThan(0), WITHIN);
    await Promise.all(closed);
    await expect(connect(cluster.haproxy.ports.perNode[2]!, pem, { clientId: 'rev-1', servername: 'localhost' })).rejects.toThrow();
  });

  it('restriction: a refused device is closed on node 2 and refused on node 3 within a second', async () => {
    const pem = cluster.pki.device('acme', 'res-1');
    await on(1, pem, 'res-1');
    expect((await viaNode1('PUT', '/v1/tenants/acme/devices/res-1/restriction', { mode: 'refuse' })).status).toBe(200);
    await vi.waitFor(() => expect(cluster.nodes[1]!.events('restricted_disconnect').length).toBeGreaterThan(0), WITHIN);
    await vi.waitFor(() => expect(connect(cluster.haproxy.ports.perNode[2]!, pem, { clientId: 'res-1', servername: 'localhost' })).rejects.toThrow(/Not authorized/i), WITHIN);
  });

  it('app removal: the app\'s sessions on nodes 2 and 3 close within a second', async () => {
    const pem = cluster.pki.app('globex', 'dashboard');
    await on(1, pem, 'globex-dash-2');
    await on(2, pem, 'globex-dash-3');
    expect((await viaNode1('DELETE', '/v1/tenants/globex/apps/dashboard')).status).toBe(200);
    for (const n of others()) await vi.waitFor(() => expect(n.events('access_withdrawn_disconnect').length).toBeGreaterThan(0), WITHIN);
  });

  it('policy change: the next location through node 3 is stripped', async () => {
    const device = await on(2, cluster.pki.device('acme', 'pol-1'), 'pol-1');
    const app = await on(2, cluster.pki.app('acme', 'dashboard'), 'acme-dash-pol');
    const sub = await subscribe(app, 'tenants/acme/devices/pol-1/location');
    const send = async () => {
      const n = sub.received.length;
      await device.publishAsync('tenants/acme/devices/pol-1/location', encode(VEHICLE, vehicle({ latitude: 48.85837, longitude: 2.29448 })), { qos: 1 });
      await sub.next(n + 1, 5000);
      return decode(VEHICLE, sub.received[n]!.payload);
    };
    expect(await send()).toHaveProperty('latitude');
    const policy = { policyId: 'cluster', version: 7, defaults: { '*': { action: 'strip' } } };
    expect((await viaNode1('PUT', '/v1/tenants/acme/privacy-policy', { policy })).status).toBe(200);
    for (const n of others()) await vi.waitFor(() => expect(n.events('policy_changed').length).toBeGreaterThan(0), WITHIN);
    expect(await send()).not.toHaveProperty('latitude');
  });

  it('key rotation: nodes 2 and 3 wrap new keys under the new version within a second', async () => {
    expect((await viaNode1('POST', '/v1/tenants/globex/keys/rotate')).status).toBe(200);
    for (const n of others()) {
      await vi.waitFor(() => expect(n.events('kek_rotation_applied')).toContainEqual(expect.objectContaining({ tenantId: 'globex', kekRef: 'local:globex:v2' })), WITHIN);
    }
  });

  it('shred: within a second node 3 can no longer decrypt the device\'s records', async () => {
    const device = await on(2, cluster.pki.device('acme', 'shr-1'), 'shr-1');
    for (let i = 0; i < 3; i++) await device.publishAsync('tenants/acme/devices/shr-1/sensor', encode(SENSOR, sensor()), { qos: 1 });
    const node3 = cluster.nodes[2]!.ports.adminMtls;
    // Read once through node 3: it now holds the device's data key in its cache.
    expect(await decryptedLines(node3, op, 'acme', 'shr-1')).toBe(3);
    const shred = await viaNode1('POST', '/v1/tenants/acme/devices/shr-1/keys/shred', {});
    expect(shred.status).toBe(200);
    await vi.waitFor(async () => expect(await decryptedLines(node3, op, 'acme', 'shr-1')).toBe(0), { timeout: 1000, interval: 50 });
  });

  it('PostgreSQL stopped: no PUBACK while it is down, then the backlog commits once and the change feed resumes', async () => {
    const device = await on(1, cluster.pki.device('acme', 'pg-1'), 'pg-1');
    const publish = (sequence: number) => device.publishAsync('tenants/acme/devices/pg-1/sensor', encode(SENSOR, sensor({ sequence })), { qos: 1 });
    await publish(1);
    await cluster.pg.stop();
    const acked = new Set<number>([1]);
    const pending = [2, 3, 4, 5, 6].map((s) => publish(s).then(() => { acked.add(s); }));
    await new Promise((r) => setTimeout(r, 2500));
    expect([...acked]).toEqual([1]);
    await cluster.pg.restart();
    await Promise.all(pending);
    expect([...acked].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const check = await checkExactlyOnce(cluster.databaseUrl, new Map([['acme/pg-1', acked]]));
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    // Every node listens again; a change made on node 1 reaches node 3 within a second.
    for (const n of cluster.nodes) await waitUntil(`${n.name} listening to the feed again`, () => n.events('control_listen_restored').length > 0, 30_000);
    const pem = cluster.pki.device('acme', 'pg-2');
    await on(2, pem, 'pg-2');
    expect((await viaNode1('PUT', '/v1/tenants/acme/devices/pg-2/restriction', { mode: 'refuse' })).status).toBe(200);
    await vi.waitFor(() => expect(cluster.nodes[2]!.events('restricted_disconnect').length).toBeGreaterThan(0), WITHIN);
  }, 120_000);
});
