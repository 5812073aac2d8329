/**
 * A persistent app session holds QoS 1 messages while the app is away. When
 * the tenant's policy changes, or the device is erased, restricted or
 * objects, before the app comes back, what the queue hands over must meet
 * the state in force, as retained messages do (docs/privacy.md, "Retained
 * messages"): no position made under a policy no longer in force, nothing
 * of an erased or restricted device made before the change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { clientOptions, closedWithin, connect, sleep, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { TestPki } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };
const policy = (version: number, location: Record<string, unknown>) => ({ policyId: 'fleet', version, defaults: { '*': { action: 'strip' }, location } });
const configWith = (privacy: unknown) => ({ tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, privacy } } });

describe('a persistent app session\'s queue under privacy changes', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];

  /** Subscribes with a persistent session and goes away. */
  async function away(clientId: string): Promise<void> {
    const c = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId, clean: false });
    await c.subscribeAsync('tenants/acme/devices/+/location', { qos: 1 });
    c.end();
    await closedWithin(c);
  }

  /** Comes back and collects what the queue hands over. */
  async function back(clientId: string): Promise<Record<string, unknown>[]> {
    const c = mqtt.connect(clientOptions(gw.port, pki.app('acme', 'dashboard'), { clientId, clean: false }));
    clients.push(c);
    const got: Record<string, unknown>[] = [];
    c.on('message', (_t, payload) => got.push(decode(VEHICLE, payload)));
    await new Promise((r) => c.once('connect', r));
    await sleep(800);
    return got;
  }

  beforeAll(async () => {
    gw = await startGateway(pki, configWith(policy(1, { action: 'keep' })));
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('a position queued under a policy replaced since is not handed over', async () => {
    await away('queue-policy');
    const dev = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    clients.push(dev);
    await dev.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle(EXACT)), { qos: 1 });
    expect(gw.gateway.reload(configWith(policy(2, { action: 'strip' }))).ok).toBe(true);
    const got = await back('queue-policy');
    expect(got.filter((b) => b['latitude'] === EXACT.latitude)).toEqual([]);
    // What was queued under the policy in force is handed over: the check is not a blanket drop.
    await away('queue-policy');
    await dev.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle(EXACT)), { qos: 1 });
    const later = await back('queue-policy');
    expect(later).toHaveLength(1);
    expect(later[0]!['appliedPolicy']).toEqual({ policyId: 'fleet', version: 2, locationAction: 'strip' });
    expect(later[0]).not.toHaveProperty('latitude');
  });

  it('nothing queued of a device restricted since is handed over', async () => {
    await away('queue-restricted');
    const dev = await connect(gw.port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' });
    clients.push(dev);
    await dev.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const op = pki.operator('alice');
    expect((await adminCall(gw.gateway.adminPorts.mtlsPort, op, 'PUT', '/v1/tenants/acme/devices/truck-2/restriction', { mode: 'drop' })).status).toBe(200);
    expect(await back('queue-restricted')).toEqual([]);
  });

  it('nothing queued of a device erased since is handed over', async () => {
    await away('queue-erased');
    const dev = await connect(gw.port, pki.device('acme', 'truck-4'), { clientId: 'truck-4' });
    clients.push(dev);
    await dev.publishAsync('tenants/acme/devices/truck-4/location', encode(VEHICLE, vehicle()), { qos: 1 });
    dev.end(true);
    const op = pki.operator('alice');
    expect((await adminCall(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-4/erasure', {})).status).toBe(200);
    expect(await back('queue-erased')).toEqual([]);
    // The device publishes again after its erasure: that message is queued and handed over.
    await away('queue-erased');
    const again = await connect(gw.port, pki.device('acme', 'truck-4'), { clientId: 'truck-4' });
    clients.push(again);
    await again.publishAsync('tenants/acme/devices/truck-4/location', encode(VEHICLE, vehicle({ tripId: 'after-erasure' })), { qos: 1 });
    expect((await back('queue-erased')).map((b) => b['tripId'])).toEqual(['after-erasure']);
  });
});
