/**
 * Retained messages follow privacy over real mutual TLS: after erasure,
 * restriction, objection or a policy change, a new subscriber does not get
 * the device's retained position made under the old state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('retained messages under privacy', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  const api = async (method: string, path: string, body?: unknown) => (await adminCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body)).status;

  async function publishRetained(device: string): Promise<void> {
    const c = await connect(gw.port, pki.device('acme', device), { clientId: device });
    clients.push(c);
    await c.publishAsync(`tenants/acme/devices/${device}/location`, encode(VEHICLE, vehicle({ latitude: 48.8583701, longitude: 2.2944813 })), { qos: 1, retain: true });
    c.end(true);
  }

  /** What a new subscriber to one device's location receives within a short wait. */
  async function retainedFor(device: string): Promise<Buffer[]> {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: `dash-${clients.length}` });
    clients.push(app);
    const sub = await subscribe(app, `tenants/acme/devices/${device}/location`);
    await sub.next(1, 700);
    app.end(true);
    return sub.received.map((r) => r.payload);
  }

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('a retained position reaches a new subscriber while nothing has changed', async () => {
    await publishRetained('truck-1');
    const got = await retainedFor('truck-1');
    expect(got).toHaveLength(1);
    expect(decode(VEHICLE, got[0]!)['latitude']).toBeCloseTo(48.8583701, 6);
  });

  it('erasure removes the device\'s retained message', async () => {
    await publishRetained('truck-2');
    expect(await retainedFor('truck-2')).toHaveLength(1);
    expect(await api('POST', '/v1/tenants/acme/devices/truck-2/erasure', {})).toBe(200);
    expect(await retainedFor('truck-2')).toHaveLength(0);
    expect(gw.gateway.retained.size).toBe(1);
  });

  it('a restriction stops the retained message; it is removed, not kept for later', async () => {
    await publishRetained('truck-3');
    expect(await api('PUT', '/v1/tenants/acme/devices/truck-3/restriction', { mode: 'refuse', reason: 'Art. 18 request' })).toBe(200);
    await sleep(600);
    expect(await retainedFor('truck-3')).toHaveLength(0);
  });

  it('an objection stops the retained message', async () => {
    await publishRetained('truck-4');
    expect(await api('POST', '/v1/tenants/acme/devices/truck-4/objections', { purpose: 'analytics', reason: 'Art. 21' })).toBe(201);
    expect(await retainedFor('truck-4')).toHaveLength(0);
  });

  it('a policy change stops retained messages made under the old policy; new ones carry the new policy', async () => {
    await publishRetained('truck-5');
    expect(await retainedFor('truck-5')).toHaveLength(1);
    expect(await api('PUT', '/v1/tenants/acme/privacy-policy', { policy: { policyId: 'strict', version: 2, defaults: { '*': { action: 'strip' } } } })).toBe(200);
    expect(await retainedFor('truck-5')).toHaveLength(0);
    expect(await retainedFor('truck-1')).toHaveLength(0);
    await publishRetained('truck-5');
    const got = await retainedFor('truck-5');
    expect(got).toHaveLength(1);
    const body = decode(VEHICLE, got[0]!);
    expect(body['latitude']).toBeUndefined();
    expect(body['appliedPolicy']).toMatchObject({ policyId: 'strict', version: 2, locationAction: 'strip' });
  });
});
