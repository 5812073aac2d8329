/**
 * An app or tenant removed while its certificate stays valid: the app's
 * certificate no longer opens the admin API's mTLS listener (even on a
 * kept-alive connection), its live MQTT session is closed and its next
 * CONNECT refused. Real gateway, real certificates, real sockets.
 */
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

type Answer = { status: number; json: Record<string, unknown> };

function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown, agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', ...(agent ? { agent } : {}),
      headers: body ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        const first = text.split('\n')[0] ?? '';
        resolve({ status: res.statusCode ?? 0, json: first.startsWith('{') ? JSON.parse(first) as Record<string, unknown> : {} });
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

function closedWithin(client: MqttClient, ms: number): Promise<boolean> {
  return new Promise((r) => {
    const timer = setTimeout(() => r(false), ms);
    client.once('close', () => { clearTimeout(timer); r(true); });
  });
}

/** The CONNACK return code of a refused CONNECT. */
async function connackCode(port: number, pem: ClientPem, clientId: string): Promise<number | undefined> {
  try {
    (await connect(port, pem, { clientId })).end(true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('a deleted app or tenant loses access on both listeners', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  const admin = (pem: ClientPem, method: string, path: string, body?: unknown, agent?: Agent) =>
    call(gw.gateway.adminPorts.mtlsPort, pem, method, path, body, agent);
  const base = () => ({ pkiDir: pki.dir, dataDir: `${pki.baseDir}/data`, admin: { port: 0, mtlsPort: 0, appRoles: { 'acme/dashboard': 'tenant-admin', 'globex/dashboard': 'tenant-admin' } } });

  beforeAll(async () => {
    gw = await startGateway(pki, base());
    op = pki.operator('olga');
    const truck = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    clients.push(truck);
    await truck.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('DELETE of an app: its certificate gets 403 on 8444 for list, access and issuance, its MQTT session ends and CONNECT is refused', async () => {
    const pem = pki.app('acme', 'dashboard');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // Before: the app, a tenant-admin, reads devices and their data and issues certificates.
    expect((await admin(pem, 'GET', '/v1/tenants/acme/devices', undefined, agent)).status).toBe(200);
    expect((await admin(pem, 'GET', '/v1/tenants/acme/devices/truck-1/data', undefined, agent)).status).toBe(200);
    expect((await admin(pem, 'POST', '/v1/tenants/acme/devices/truck-9/certificates', {}, agent)).status).toBe(201);
    const live = await connect(gw.port, pem, { clientId: 'dash-live' });
    clients.push(live);
    const closed = closedWithin(live, 1000);

    expect((await admin(op, 'DELETE', '/v1/tenants/acme/apps/dashboard')).status).toBe(200);
    expect(await closed).toBe(true);
    for (const [method, path, body] of [
      ['GET', '/v1/tenants/acme/devices', undefined],
      ['GET', '/v1/tenants/acme/devices/truck-1/data', undefined],
      ['POST', '/v1/tenants/acme/devices/truck-8/certificates', {}],
    ] as const) {
      // The same kept-alive TLS connection as before the deletion, and a new one.
      for (const viaAgent of [agent, undefined]) {
        const answer = await admin(pem, method, path, body, viaAgent);
        expect(answer.status).toBe(403);
        expect(answer.json['code']).toBe('TIQ_ERR_NOT_AUTHORIZED');
      }
    }
    agent.destroy();
    expect(await connackCode(gw.port, pem, 'dash-again')).toBe(5);
    expect(gw.logs.events('access_withdrawn_disconnect').length).toBeGreaterThanOrEqual(1);
    // Refusals are audited as denied, with their code: the first at once, the rest folded into the source's summary entry.
    await gw.gateway.admin!.audit.aggregator.sweep(true);
    const denied = (await gw.gateway.admin!.audit.query({ limit: 1000 })).filter((e) => e.result === 'denied' && e.detail?.includes('TIQ_ERR_NOT_AUTHORIZED'));
    expect(denied.reduce((n, e) => n + Number(/repeated=(\d+)/.exec(e.detail)?.[1] ?? 1), 0)).toBe(6);
    // The issued certificate of the deleted app's last successful call still exists; no new one was issued after.
    const certs = (await admin(op, 'GET', '/v1/tenants/acme/devices')).json['devices'] as { deviceId: string }[];
    expect(certs.map((d) => d.deviceId)).not.toContain('truck-8');
  });

  it('an app put back through the API gets its access back', async () => {
    const pem = pki.app('acme', 'dashboard');
    expect((await admin(op, 'PUT', '/v1/tenants/acme/apps/dashboard', {})).status).toBe(200);
    expect((await admin(pem, 'GET', '/v1/tenants/acme/devices')).status).toBe(200);
    expect(await connackCode(gw.port, pem, 'dash-back')).toBe(0);
  });

  it('a tenant removed or deactivated by a config change: its app is refused on 8444 and MQTT, its session closed', async () => {
    const pem = pki.app('globex', 'dashboard');
    expect((await admin(pem, 'GET', '/v1/tenants/globex/devices')).status).toBe(200);
    const live = await connect(gw.port, pem, { clientId: 'globex-dash' });
    clients.push(live);
    const closed = closedWithin(live, 1000);
    const { globex: _removed, ...rest } = TEST_TENANTS;
    expect(gw.gateway.reload({ ...base(), tenants: rest }, 'test')).toEqual({ ok: true });
    expect(await closed).toBe(true);
    const answer = await admin(pem, 'GET', '/v1/tenants/globex/devices');
    expect(answer.status).toBe(403);
    expect(answer.json['code']).toBe('TIQ_ERR_NOT_AUTHORIZED');
    expect(await connackCode(gw.port, pem, 'globex-dash-2')).toBe(5);

    // Deactivated (active: false) is refused the same way.
    const acme = pki.app('acme', 'trucks-only');
    expect((await admin(acme, 'GET', '/v1/tenants/acme/apps')).status).toBe(200);
    expect(gw.gateway.reload({ ...base(), tenants: { ...rest, acme: { ...rest.acme, active: false } } }, 'test')).toEqual({ ok: true });
    expect((await admin(acme, 'GET', '/v1/tenants/acme/apps')).status).toBe(403);
    // Operators are not bound to a tenant and keep their access.
    expect((await admin(op, 'GET', '/v1/tenants')).status).toBe(200);
  });
});
