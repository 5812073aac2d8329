/**
 * Device lifecycle events on tenants/{tenant}/events/{device}/{connected|disconnected}:
 * published by the gateway with the reason a session ended, delivered only to
 * the tenant's apps granted `events` (and their device groups), counted in
 * metrics, and never publishable by a device.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, subscribe, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import { pkiPaths } from '../../src/pki/pki-store.ts';

const TENANTS = {
  acme: {
    deviceGroups: { trucks: ['truck-1'] },
    apps: { dashboard: { events: true }, 'no-events': {}, 'truck-events': { deviceGroups: ['trucks'], events: true } },
  },
  globex: { apps: { dashboard: { events: true } } },
};

type Received = Awaited<ReturnType<typeof subscribe>>;

interface LifecycleMessage { device: string; event: string; time: string; reason?: string; code?: string }

/** A call to the admin API's certificate port, verifying the gateway against the run's CA. */
function call(port: number, pem: ClientPem, method: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(25);
  return check();
}

describe('device lifecycle events', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];
  let events: Received;
  let truckEvents: Received;
  let noEvents: Received;
  let globex: Received;

  beforeAll(async () => {
    gw = await startGateway(pki, { tenants: TENANTS, limits: { minKeepaliveS: 1 } });
    const watch = async (tenant: string, app: string, filter: string) => {
      const c = await connect(gw.port, pki.app(tenant, app), { clientId: `${tenant}-${app}` });
      clients.push(c);
      return subscribe(c, filter);
    };
    events = await watch('acme', 'dashboard', 'tenants/acme/events/#');
    truckEvents = await watch('acme', 'truck-events', 'tenants/acme/#');
    noEvents = await watch('acme', 'no-events', 'tenants/acme/#');
    globex = await watch('globex', 'dashboard', 'tenants/globex/#');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  /** The events of one device the dashboard received, parsed. */
  function of(device: string, event?: string): LifecycleMessage[] {
    return events.received.filter((m) => m.topic.startsWith(`tenants/acme/events/${device}/`) && (!event || m.topic.endsWith(`/${event}`)))
      .map((m) => JSON.parse(m.payload.toString()) as LifecycleMessage);
  }

  it('a device that connects and disconnects cleanly: connected, then disconnected with reason client-disconnect', async () => {
    const truck = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    expect(await until(() => of('truck-1', 'connected').length === 1)).toBe(true);
    await truck.endAsync();
    expect(await until(() => of('truck-1', 'disconnected').length === 1)).toBe(true);
    const [connected] = of('truck-1', 'connected');
    const [disconnected] = of('truck-1', 'disconnected');
    expect(connected).toEqual({ device: 'truck-1', event: 'connected', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    // No address, nothing the device sent: only who, what, when and why.
    expect(Object.keys(disconnected!).sort()).toEqual(['device', 'event', 'reason', 'time']);
    expect(disconnected!.reason).toBe('client-disconnect');
    expect(events.received.map((m) => m.topic)).toEqual(['tenants/acme/events/truck-1/connected', 'tenants/acme/events/truck-1/disconnected']);
  });

  it('a device that goes silent past its keepalive: reason keepalive-timeout', async () => {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'car-1'));
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'car-1', keepalive: 1 });
    expect(await until(() => of('car-1', 'disconnected').length === 1, 6000)).toBe(true);
    expect(of('car-1', 'disconnected')[0]).toMatchObject({ reason: 'keepalive-timeout', code: 'TIQ_ERR_KEEPALIVE' });
    raw.end();
  });

  it('a session taken over by a new connection of the same device: reason takeover', async () => {
    const first = await connect(gw.port, pki.device('acme', 'car-2'), { clientId: 'car-2' });
    clients.push(first);
    const second = await connect(gw.port, pki.device('acme', 'car-2'), { clientId: 'car-2' });
    clients.push(second);
    expect(await until(() => of('car-2', 'disconnected').length === 1 && of('car-2', 'connected').length === 2)).toBe(true);
    expect(of('car-2', 'disconnected')[0]!.reason).toBe('takeover');
    expect(await gw.gateway.stats.deviceEventCount('disconnected', 'takeover')).toBe(1);
  });

  it('a revoked device: reason revoked', async () => {
    const pem = pki.device('acme', 'car-3');
    const c = await connect(gw.port, pem, { clientId: 'car-3' });
    clients.push(c);
    await withSecondControlStore(gw.gateway, (store) => new IssuanceRegistry(pkiPaths(pki.dir).registry, store).revoke({ serial: pem.serial }, 'test'));
    expect(await until(() => of('car-3', 'disconnected').length === 1)).toBe(true);
    expect(of('car-3', 'disconnected')[0]).toMatchObject({ reason: 'revoked', code: 'TIQ_ERR_CERT_REVOKED' });
  });

  it('a device cannot publish on the events topic: it is disconnected, and no forged event reaches anyone', async () => {
    const forger = await connect(gw.port, pki.device('acme', 'car-4'), { clientId: 'car-4' });
    forger.publish('tenants/acme/events/truck-1/connected', JSON.stringify({ device: 'truck-1', event: 'connected' }), { qos: 1 });
    expect(await until(() => of('car-4', 'disconnected').length === 1)).toBe(true);
    expect(of('car-4', 'disconnected')[0]).toMatchObject({ reason: 'refused', code: 'TIQ_ERR_TOPIC_DENIED' });
    await sleep(200);
    expect(of('truck-1', 'connected')).toHaveLength(1);
    expect(gw.logs.events('publish_refused').some((l) => l['code'] === 'TIQ_ERR_TOPIC_DENIED' && l['identity'] === 'device acme/car-4')).toBe(true);
  });

  it('grants decide who sees them: device groups apply, apps without `events` and other tenants see none', async () => {
    await sleep(200);
    expect(new Set(truckEvents.received.map((m) => m.topic))).toEqual(new Set(['tenants/acme/events/truck-1/connected', 'tenants/acme/events/truck-1/disconnected']));
    expect(noEvents.received).toEqual([]);
    expect(globex.received).toEqual([]);
  });

  it('counts every event by type in the metrics', async () => {
    const connected = events.received.filter((m) => m.topic.endsWith('/connected')).length;
    const disconnected = events.received.filter((m) => m.topic.endsWith('/disconnected')).length;
    expect(await gw.gateway.stats.deviceEventCount('connected')).toBe(connected);
    expect(await gw.gateway.stats.deviceEventCount('disconnected')).toBe(disconnected);
    const text = await gw.gateway.stats.registry.metrics();
    expect(text).toMatch(/thingiq_device_events_total\{event="disconnected",reason="keepalive-timeout"\} 1/);
  });

  it('an app granted events through the admin API receives them from the next event on', async () => {
    const op = pki.operator('ops');
    const put = await call(gw.gateway.adminPorts.mtlsPort, op, 'PUT', '/v1/tenants/acme/apps/no-events', { events: true });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ id: 'no-events', events: true });
    const c = await connect(gw.port, pki.device('acme', 'car-5'), { clientId: 'car-5' });
    clients.push(c);
    expect(await until(() => noEvents.received.some((m) => m.topic === 'tenants/acme/events/car-5/connected'))).toBe(true);
    expect(noEvents.received.map((m) => m.topic)).toEqual(['tenants/acme/events/car-5/connected']);
  });
});
