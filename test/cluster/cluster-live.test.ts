/**
 * Failure suite, on one cluster (three gateway processes behind HAProxy, one
 * PostgreSQL, nats-server), clients placed on chosen nodes:
 * - operator changes made through one node's admin API reach every other
 *   node within a second, through the PostgreSQL control store's change feed
 *   (LISTEN/NOTIFY; docs/control-store.md);
 * - live fan-out over NATS: a device on node 1 reaches apps on nodes 2 and 3
 *   within their grants and tenant; the same device connecting to another
 *   node takes over its session within a second; NATS killed leaves ingest,
 *   PUBACKs and same-node delivery running, and cross-node delivery resumes
 *   once it is back (live fan-out is at most once: docs/scaling.md);
 * - a tenant's connection quota is divided between the live nodes;
 * - PostgreSQL stops: no PUBACK while it is down, the backlog commits once it
 *   is back (each message once) and the nodes' caches follow the feed again.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, sleep, subscribe, TEST_TENANTS } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { decode, encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { adminCall, decryptedLines } from './harness/admin.ts';
import { startCluster, type Cluster } from './harness/cluster.ts';
import { waitUntil } from './harness/processes.ts';
import { checkExactlyOnce } from './harness/records.ts';

const WITHIN = { timeout: 1000, interval: 20 };

describe('cluster: changes, live fan-out and outages across three gateway processes', () => {
  let cluster: Cluster;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    // initech's quota makes one connection per node of three.
    cluster = await startCluster({ overrides: { tenants: { ...TEST_TENANTS, initech: { quotas: { maxConnections: 3 } } } } });
    op = cluster.pki.operator('olga');
  }, 600_000);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await cluster?.close();
  }, 60_000);

  const viaNode1 = (method: string, path: string, body?: unknown) => adminCall(cluster.nodes[0]!.ports.adminMtls, op, method, path, body);
  /** A client placed on node i (0-based) through HAProxy's per-node frontend. */
  async function on(i: number, pem: ClientPem, clientId: string, extra = {}): Promise<MqttClient> {
    const c = await connect(cluster.haproxy.ports.perNode[i]!, pem, { clientId, servername: 'localhost', ...extra });
    clients.push(c);
    return c;
  }
  const others = () => cluster.nodes.slice(1);

  /** Every node's bus is up (logged bus_connected or bus_reconnected since its last disconnection). */
  const busUp = (i: number) => {
    const out = cluster.nodes[i]!.output();
    const up = Math.max(out.lastIndexOf('"event":"bus_connected"'), out.lastIndexOf('"event":"bus_reconnected"'));
    return up > out.lastIndexOf('"event":"bus_disconnected"');
  };

  it('a device on node 1 reaches apps on nodes 2 and 3 within their grants, never another tenant\'s app', async () => {
    const dash = await subscribe(await on(1, cluster.pki.app('acme', 'dashboard'), 'acme-dash-2'), 'tenants/acme/#');
    const trucksOnly = await subscribe(await on(2, cluster.pki.app('acme', 'trucks-only'), 'acme-trucks-3'), 'tenants/acme/devices/+/location');
    const globex = await subscribe(await on(2, cluster.pki.app('globex', 'dashboard'), 'globex-dash-3'), 'tenants/globex/#');
    // A node subscribes to a tenant's subjects when it gets a subscriber: give the interest time to reach NATS.
    await sleep(500);
    const truck = await on(0, cluster.pki.device('acme', 'truck-1'), 'truck-1');
    const van = await on(0, cluster.pki.device('acme', 'van-7'), 'van-7');
    const globexVan = await on(0, cluster.pki.device('globex', 'van-2'), 'van-2');
    await truck.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await van.publishAsync('tenants/acme/devices/van-7/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await van.publishAsync('tenants/acme/devices/van-7/sensor', encode(SENSOR, sensor()), { qos: 1 });
    await globexVan.publishAsync('tenants/globex/devices/van-2/sensor', encode(SENSOR, sensor()), { qos: 1 });
    await waitUntil('the dashboard on node 2 got the three acme messages', () =>
      dash.received.filter((m) => m.topic.includes('/devices/')).length >= 3, 5000);
    expect(dash.received.filter((m) => m.topic.includes('/devices/')).map((m) => m.topic).sort()).toEqual([
      'tenants/acme/devices/truck-1/location', 'tenants/acme/devices/van-7/location', 'tenants/acme/devices/van-7/sensor',
    ]);
    await waitUntil('the globex app on node 3 got its own tenant\'s message', () => globex.received.length >= 1, 5000);
    await waitUntil('the trucks-only app on node 3 got truck-1', () => trucksOnly.received.length >= 1, 5000);
    await sleep(300);
    // Grants: trucks-only sees the trucks group's locations only; tenants never see each other.
    expect(trucksOnly.received.map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-1/location']);
    expect(globex.received.map((m) => m.topic)).toEqual(['tenants/globex/devices/van-2/sensor']);
  });

  it('takeover: the same device connecting through node 2 closes its session on node 1 within a second', async () => {
    const pem = cluster.pki.device('acme', 'truck-2');
    const first = await on(0, pem, 'truck-2', { protocolVersion: 5 });
    let closed = false;
    first.on('close', () => { closed = true; });
    await sleep(100);
    await on(1, pem, 'truck-2', { protocolVersion: 5 });
    await waitUntil('the session on node 1 closed', () => closed, 1000, 20);
    expect(cluster.nodes[0]!.events('session_taken_over').length).toBeGreaterThanOrEqual(1);
  });

  it('NATS killed: ingest, PUBACKs and same-node delivery go on, no node crashes, cross-node delivery resumes after restart', async () => {
    const local = await subscribe(await on(0, cluster.pki.app('acme', 'dashboard'), 'acme-dash-1'), 'tenants/acme/devices/truck-9/sensor');
    const remote = await subscribe(await on(1, cluster.pki.app('acme', 'dashboard'), 'acme-dash-2b'), 'tenants/acme/devices/truck-9/sensor');
    const truck = await on(0, cluster.pki.device('acme', 'truck-9'), 'truck-9');
    await sleep(500);
    await truck.publishAsync('tenants/acme/devices/truck-9/sensor', encode(SENSOR, sensor({ sequence: 1 })), { qos: 1 });
    await waitUntil('cross-node delivery before the outage', () => remote.received.length >= 1, 5000);
    await cluster.nats.kill();
    await waitUntil('node 1 noticed the bus is gone', () => !busUp(0), 10_000);
    const acked = new Set<number>([1]);
    for (let s = 2; s <= 6; s++) { await truck.publishAsync('tenants/acme/devices/truck-9/sensor', encode(SENSOR, sensor({ sequence: s })), { qos: 1 }); acked.add(s); }
    await waitUntil('same-node delivery during the outage', () => local.received.length >= 6, 5000);
    expect(cluster.nodes.every((n) => n.running)).toBe(true);
    const stored = await checkExactlyOnce(cluster.databaseUrl, new Map([['acme/truck-9', acked]]));
    expect(stored.missing).toEqual([]);
    expect(stored.duplicated).toEqual([]);
    await cluster.nats.start();
    await waitUntil('both nodes back on the bus', () => busUp(0) && busUp(1), 20_000);
    // At most once: what was published during the outage may or may not cross; new messages do.
    const before = remote.received.length;
    await waitUntil('cross-node delivery resumed', async () => {
      await truck.publishAsync('tenants/acme/devices/truck-9/sensor', encode(SENSOR, sensor()), { qos: 1 });
      return remote.received.length > before;
    }, 15_000, 500);
    expect(cluster.nodes.every((n) => n.running)).toBe(true);
  }, 120_000);
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

  it('a tenant\'s maxConnections is divided between the live nodes: one place per node through HAProxy, never more than the quota', async () => {
    // After the outages above: HAProxy counts every node up again, and so does every node's membership.
    await waitUntil('haproxy sees every node up', () => cluster.haproxy.allUp(), 30_000, 200);
    for (const n of cluster.nodes) {
      await vi.waitFor(async () => expect(JSON.parse((await adminCall(n.ports.adminMtls, op, 'GET', '/v1/cluster/members')).text)).toMatchObject({ liveNodes: 3 }), { timeout: 5000, interval: 100 });
    }
    const device = (id: string) => cluster.pki.device('initech', id);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await on(i, device(`q-${i}`), `q-${i}`));
    // A second connection of the tenant on any node is past that node's share: CONNACK 3 (TIQ_ERR_CONNECTION_LIMIT).
    for (let i = 0; i < 3; i++) await expect(on(i, device(`q-more-${i}`), `q-more-${i}`)).rejects.toThrow(/Server unavailable/);
    await expect(connect(cluster.haproxy.ports.mqtt, device('q-lb'), { clientId: 'q-lb', servername: 'localhost' })).rejects.toThrow(/Server unavailable/);
    // The place freed on node 2 is taken there again.
    held[1]!.end(true);
    const again = await vi.waitFor(() => on(1, device('q-again'), 'q-again'), { timeout: 5000, interval: 250 });
    for (const c of [...held, again]) await c.endAsync(true);
  });
});
