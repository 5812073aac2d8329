/**
 * Two gateway nodes on one real nats-server, with real MQTT clients: live
 * fan-out across nodes within grants and tenants, subscriptions by interest,
 * nothing the privacy rules drop on the bus (seen by a raw NATS subscriber
 * on `>`), ingest and same-node delivery through a NATS outage, and a
 * session taken over across nodes.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePacket } from '../../src/cluster/bus-codec.ts';
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/log.ts';
import { connect, LogCapture, sleep, subscribe } from '../helpers/gateway.ts';
import { NatsServer } from '../helpers/nats-server.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, SENSOR, sensor, VEHICLE, vehicle } from '../helpers/telemetry.ts';
import { provisionSharedState, type SharedClusterState } from './harness/shared-state.ts';

const TENANTS = {
  acme: {
    apps: { dashboard: { events: true }, 'sensors-only': { streams: ['sensor'] } },
    privacy: {
      policyId: 'bus-test', version: 1, defaults: { '*': { action: 'keep' } },
      devices: { 'truck-9': { '*': { action: 'drop' } } }, privateMode: { action: 'drop' },
    },
  },
  globex: { apps: { dashboard: {} } },
  initech: { apps: { dashboard: {} } },
};

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) await sleep(20);
  return check();
}

const available = await startTestPostgres();
afterAll(async () => { if (available.ok) await available.pg.close(); });

/** What every node of one cluster shares: PostgreSQL for state and telemetry, the root key, the ticket secret. */
async function sharedClusterState(baseDir: string): Promise<SharedClusterState> {
  if (!available.ok) throw new Error(available.reason);
  return provisionSharedState(available.pg, baseDir);
}

(available.ok ? describe : describe.skip)('cluster bus between two gateway nodes', () => {
  const pki = new TestPki();
  let shared: SharedClusterState;
  let nats: NatsServer;
  const nodes: { gateway: Gateway; logs: LogCapture; port: number }[] = [];
  const clients: MqttClient[] = [];
  let raw: NatsConnection;
  /** Every message on the bus: subject and the topic it carried. */
  const onBus: { subject: string; topic: string }[] = [];

  async function startNode(name: string) {
    const logs = new LogCapture();
    const config = parseConfig({ ...shared.node(name, [nats.url]), pkiDir: pki.dir, tenants: TENANTS, admin: { port: 0, mtlsPort: 0 } });
    const gateway = await Gateway.start({ config, baseDir: pki.baseDir, logger: createLogger('debug', logs), mqttPort: 0 });
    const node = { gateway, logs, port: gateway.mqttPort };
    nodes.push(node);
    return node;
  }

  async function client(port: number, pem: Parameters<typeof connect>[1], clientId: string, extra = {}) {
    const c = await connect(port, pem, { clientId, ...extra });
    clients.push(c);
    return c;
  }

  const subsOf = async (node: string) => (await nats.subscriptions()).get(`thingiq-${node}`) ?? [];
  const metric = async (gw: Gateway, name: string, labels: Record<string, string> = {}) => {
    const m = await gw.stats.registry.getSingleMetric(name)?.get();
    return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
  };

  let a: Awaited<ReturnType<typeof startNode>>;
  let b: Awaited<ReturnType<typeof startNode>>;
  let dashB: Awaited<ReturnType<typeof subscribe>>;
  let sensorsB: Awaited<ReturnType<typeof subscribe>>;
  let globexB: Awaited<ReturnType<typeof subscribe>>;

  beforeAll(async () => {
    shared = await sharedClusterState(pki.baseDir);
    nats = await NatsServer.start();
    raw = await natsConnect({ servers: nats.url, name: 'raw', maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    raw.subscribe('>', { callback: (_e, m) => onBus.push({ subject: m.subject, topic: decodePacket(m.data).topic }) });
    a = await startNode('node-a');
    b = await startNode('node-b');
    dashB = await subscribe(await client(b.port, pki.app('acme', 'dashboard'), 'dash-b'), 'tenants/acme/#');
    sensorsB = await subscribe(await client(b.port, pki.app('acme', 'sensors-only'), 'sensors-b'), 'tenants/acme/#');
    globexB = await subscribe(await client(b.port, pki.app('globex', 'dashboard'), 'globex-b'), 'tenants/globex/#');
    expect(await until(async () => (await subsOf('node-b')).includes('tiq.acme.>') && a.gateway.bus!.mq.connected)).toBe(true);
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    for (const n of nodes) await n.gateway.close();
    await raw?.close();
    await nats?.kill();
  });

  it('a device on node A reaches an app on node B, within the app\'s grants and tenant', async () => {
    const truck = await client(a.port, pki.device('acme', 'truck-1'), 'truck-1');
    await truck.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await truck.publishAsync('tenants/acme/devices/truck-1/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await until(() => dashB.received.filter((m) => m.topic.includes('/devices/truck-1/')).length === 2)).toBe(true);
    expect(dashB.received.filter((m) => m.topic.includes('/devices/')).map((m) => m.topic)).toEqual([
      'tenants/acme/devices/truck-1/location', 'tenants/acme/devices/truck-1/sensor',
    ]);
    // The sensors-only app gets the sensor reading, never the location.
    expect(await until(() => sensorsB.received.some((m) => m.topic.endsWith('/sensor')))).toBe(true);
    await sleep(200);
    expect(sensorsB.received.filter((m) => m.topic.endsWith('/location'))).toEqual([]);
    expect(globexB.received).toEqual([]);
    // Lifecycle events cross too: truck-1 connected on A, the events-granted dashboard on B hears it.
    expect(dashB.received.some((m) => m.topic === 'tenants/acme/events/truck-1/connected')).toBe(true);
    expect(sensorsB.received.some((m) => m.topic.includes('/events/'))).toBe(false);
    expect(await metric(b.gateway, 'thingiq_bus_received_total')).toBeGreaterThanOrEqual(3);
  });

  it('mosquitto_pub on node A reaches mosquitto_sub on node B', async () => {
    const tls = (port: number, pem: ClientPem, clientId: string) =>
      ['-h', 'localhost', '-p', String(port), '--cafile', pem.caPath, '--cert', pem.certPath, '--key', pem.keyPath, '-i', clientId];
    const run = (cmd: string, args: string[]) => new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn(cmd, args);
      const timer = setTimeout(() => child.kill(), 15_000);
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout }); });
    });
    const received = run('mosquitto_sub', [...tls(b.port, pki.app('acme', 'dashboard'), 'mosq-b'), '-t', 'tenants/acme/devices/truck-8/location', '-C', '1', '-W', '10', '-v']);
    await sleep(700);
    const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 1, latitude: 48.85, longitude: 2.29, speedMps: 10 });
    const pub = await run('mosquitto_pub', [...tls(a.port, pki.device('acme', 'truck-8'), 'truck-8'), '-q', '1', '-t', 'tenants/acme/devices/truck-8/location', '-m', json]);
    expect(pub.status).toBe(0);
    const out = await received;
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('tenants/acme/devices/truck-8/location {');
  });

  it('a node subscribes to a tenant\'s subjects only while it has a subscriber of that tenant', async () => {
    // Node A has no subscriber at all: only the control subjects.
    expect(await subsOf('node-a')).toEqual(['tiq._ctl.>']);
    expect((await subsOf('node-b')).sort()).toEqual(['tiq._ctl.>', 'tiq.acme.>', 'tiq.globex.>']);
    // A device of a tenant nobody subscribes to is still published (NATS drops it), and B does not receive it.
    const other = await client(a.port, pki.device('initech', 'press-1'), 'press-1');
    await other.publishAsync('tenants/initech/devices/press-1/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await until(() => onBus.some((m) => m.subject === 'tiq.initech.press-1.sensor'))).toBe(true);
    const app = await client(a.port, pki.app('initech', 'dashboard'), 'initech-a');
    await app.subscribeAsync('tenants/initech/#', { qos: 1 });
    expect(await until(async () => (await subsOf('node-a')).includes('tiq.initech.>'))).toBe(true);
    await app.unsubscribeAsync('tenants/initech/#');
    expect(await until(async () => !(await subsOf('node-a')).includes('tiq.initech.>'))).toBe(true);
  });

  it('messages dropped by the privacy policy, a restriction or private mode never reach the bus', async () => {
    await a.gateway.admin!.restrictions.set('acme', 'truck-5', 'drop', 'test');
    const droppedBefore = await metric(a.gateway, 'thingiq_messages_total', { stream: 'location', outcome: 'dropped' }) + await metric(a.gateway, 'thingiq_messages_total', { stream: 'sensor', outcome: 'dropped' });
    const restrictedBefore = await metric(a.gateway, 'thingiq_refusals_total', { code: 'TIQ_ERR_RESTRICTED' });
    const dropped = await client(a.port, pki.device('acme', 'truck-9'), 'truck-9');
    const restricted = await client(a.port, pki.device('acme', 'truck-5'), 'truck-5');
    const private7 = await client(a.port, pki.device('acme', 'truck-7'), 'truck-7');
    await private7.publishAsync('tenants/acme/devices/truck-7/control/private-mode', 'on', { qos: 1 });
    for (const [c, d] of [[dropped, 'truck-9'], [restricted, 'truck-5'], [private7, 'truck-7']] as const) {
      await c.publishAsync(`tenants/acme/devices/${d}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
      await c.publishAsync(`tenants/acme/devices/${d}/sensor`, encode(SENSOR, sensor()), { qos: 1 });
    }
    // All six were acknowledged (publishAsync resolved on PUBACK): four dropped by policy and private mode, two restricted.
    const droppedAfter = await metric(a.gateway, 'thingiq_messages_total', { stream: 'location', outcome: 'dropped' }) + await metric(a.gateway, 'thingiq_messages_total', { stream: 'sensor', outcome: 'dropped' });
    expect(droppedAfter - droppedBefore).toBe(4);
    expect(await metric(a.gateway, 'thingiq_refusals_total', { code: 'TIQ_ERR_RESTRICTED' }) - restrictedBefore).toBe(2);
    // A marker after them: once it has crossed, anything before it would have too.
    const marker = await client(a.port, pki.device('acme', 'truck-3'), 'truck-3');
    await marker.publishAsync('tenants/acme/devices/truck-3/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await until(() => dashB.received.some((m) => m.topic === 'tenants/acme/devices/truck-3/sensor'))).toBe(true);
    expect(await until(() => onBus.some((m) => m.topic === 'tenants/acme/devices/truck-3/sensor'))).toBe(true);
    for (const d of ['truck-9', 'truck-5', 'truck-7']) {
      expect(onBus.filter((m) => m.topic.includes(`/devices/${d}/`))).toEqual([]);
      expect(dashB.received.filter((m) => m.topic.includes(`/devices/${d}/`))).toEqual([]);
    }
  });

  it('NATS killed: PUBACKs and storage go on, same-node delivery goes on, cross-node delivery resumes after restart', async () => {
    const localApp = await client(a.port, pki.app('acme', 'sensors-only'), 'sensors-a');
    const local = await subscribe(localApp, 'tenants/acme/devices/+/sensor');
    const truck = await client(a.port, pki.device('acme', 'truck-4'), 'truck-4');
    await nats.kill();
    expect(await until(() => !a.gateway.bus!.mq.connected && !b.gateway.bus!.mq.connected)).toBe(true);
    const crossBefore = dashB.received.length;
    for (let i = 0; i < 5; i++) await truck.publishAsync('tenants/acme/devices/truck-4/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await a.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-4' })).toBe(5);
    expect((await local.next(5)).length).toBe(5);
    expect(await metric(a.gateway, 'thingiq_bus_pending_messages')).toBeGreaterThanOrEqual(5);
    expect(await metric(a.gateway, 'thingiq_bus_connected')).toBe(0);
    expect(dashB.received.length).toBe(crossBefore);
    await nats.restart();
    expect(await until(() => a.gateway.bus!.mq.connected && b.gateway.bus!.mq.connected, 10_000)).toBe(true);
    expect(await until(async () => (await subsOf('node-b')).includes('tiq.acme.>'))).toBe(true);
    await truck.publishAsync('tenants/acme/devices/truck-4/sensor', encode(SENSOR, sensor({ sequence: 999_999 })), { qos: 1 });
    expect(await until(() => dashB.received.filter((m) => m.topic === 'tenants/acme/devices/truck-4/sensor').length >= 1, 10_000)).toBe(true);
    expect(a.logs.events('bus_disconnected').length).toBeGreaterThanOrEqual(1);
    expect(a.logs.events('bus_reconnected').length).toBeGreaterThanOrEqual(1);
  });

  it('a shared subscription with members on both nodes gets each message once across the cluster, NATS outage included', async () => {
    expect(await until(() => a.gateway.bus!.mq.connected && b.gateway.bus!.mq.connected, 10_000)).toBe(true);
    const filter = '$share/workers/tenants/acme/devices/+/sensor';
    const onA = await subscribe(await client(a.port, pki.app('acme', 'dashboard'), 'worker-a'), filter);
    const onB = await subscribe(await client(b.port, pki.app('acme', 'dashboard'), 'worker-b'), filter);
    // Each node's group holds one queue subscription on its own connection.
    expect(await until(async () => (await subsOf('node-a-shares')).includes('tiq.acme.>') && (await subsOf('node-b-shares')).includes('tiq.acme.>'))).toBe(true);
    const truck = await client(a.port, pki.device('acme', 'truck-6'), 'truck-6');
    const mine = (r: typeof onA) => r.received.filter((m) => m.topic === 'tenants/acme/devices/truck-6/sensor').map((m) => m.payload.toString('hex'));
    for (let i = 0; i < 20; i++) await truck.publishAsync('tenants/acme/devices/truck-6/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await until(() => mine(onA).length + mine(onB).length >= 20)).toBe(true);
    await sleep(300);
    const all = [...mine(onA), ...mine(onB)];
    expect(all).toHaveLength(20);
    expect(new Set(all).size).toBe(20);
    expect(mine(onA).length).toBeGreaterThan(0);
    expect(mine(onB).length).toBeGreaterThan(0);
    // NATS away: node A's own member gets what node A's devices publish, and no node's group gets it again afterwards.
    await nats.kill();
    expect(await until(() => !a.gateway.bus!.mq.connected)).toBe(true);
    const [beforeA, beforeB] = [mine(onA).length, mine(onB).length];
    for (let i = 0; i < 3; i++) await truck.publishAsync('tenants/acme/devices/truck-6/sensor', encode(SENSOR, sensor()), { qos: 1 });
    expect(await until(() => mine(onA).length === beforeA + 3)).toBe(true);
    await nats.restart();
    expect(await until(() => a.gateway.bus!.mq.connected && b.gateway.bus!.mq.connected, 10_000)).toBe(true);
    // The held copies go out (the plain subscriber on B gets them); the groups do not take them again.
    expect(await until(() => dashB.received.filter((m) => m.topic === 'tenants/acme/devices/truck-6/sensor').length >= 23, 10_000)).toBe(true);
    await sleep(300);
    expect(mine(onB).length).toBe(beforeB);
    expect(mine(onA).length).toBe(beforeA + 3);
  });

  it('the same device connecting to node B takes over its session on node A within a second (reason takeover)', async () => {
    expect(await until(() => a.gateway.bus!.mq.connected && b.gateway.bus!.mq.connected, 10_000)).toBe(true);
    const pem = pki.device('acme', 'truck-2');
    const onA = await client(a.port, pem, 'truck-2', { protocolVersion: 5 });
    const disconnects: number[] = [];
    onA.on('disconnect', (p) => disconnects.push(p.reasonCode ?? 0));
    let closedA = false;
    onA.on('close', () => { closedA = true; });
    await sleep(100);
    await client(b.port, pem, 'truck-2', { protocolVersion: 5 });
    expect(await until(() => closedA, 1000)).toBe(true);
    expect(disconnects).toEqual([0x8e]);
    const why = async () => dashB.received.filter((m) => m.topic === 'tenants/acme/events/truck-2/disconnected')
      .map((m) => (JSON.parse(m.payload.toString()) as { reason: string }).reason);
    expect(await until(async () => (await why()).length === 1)).toBe(true);
    expect(await why()).toEqual(['takeover']);
    expect(a.logs.events('session_taken_over')).toHaveLength(1);
  });
});

(available.ok ? describe : describe.skip)('cluster bus configuration', () => {
  it('an unreadable cluster.nats.tokenFile refuses the start with TIQ_ERR_CONFIG; the same node with a readable one starts (NATS down or not)', async () => {
    const pki = new TestPki();
    const node = (await sharedClusterState(pki.baseDir)).node('edge-1', ['nats://127.0.0.1:1']);
    const tokenFile = join(pki.baseDir, 'nats.token');
    const configWith = (token: string) => parseConfig({
      ...node, pkiDir: pki.dir, tenants: TENANTS, admin: { enabled: false },
      cluster: { ...node.cluster, nats: { ...node.cluster['nats'] as object, tokenFile: token } },
    });
    const logs = new LogCapture();
    await expect(Gateway.start({ config: configWith(join(pki.baseDir, 'missing.token')), baseDir: pki.baseDir, logger: createLogger('debug', logs), mqttPort: 0 }))
      .rejects.toMatchObject({ code: 'TIQ_ERR_CONFIG' });
    writeFileSync(tokenFile, 's3cret-token\n', { mode: 0o600 });
    const gateway = await Gateway.start({ config: configWith(tokenFile), baseDir: pki.baseDir, logger: createLogger('debug', logs), mqttPort: 0 });
    expect(gateway.bus?.mq.connected).toBe(false);
    await gateway.close();
  });
});
