/**
 * README promise ("Operator's guide"; docs/admin.md, "Two listeners"):
 * revocation is checked on every request, so a revoked operator or app
 * certificate is refused from its next request on, even on a connection kept
 * alive since before the revocation, and the app's live MQTT session is
 * closed at once. Real gateway, real mutual TLS, certificates issued through
 * the admin API (so the gateway's issuance registry knows them).
 */
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { closedWithin, connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

interface Answer { status: number; json: Record<string, unknown>; reused: boolean }

function callOn(agent: Agent, port: number, pem: ClientPem, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('revocation on the admin API takes effect at once', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let olga: ClientPem;
  const agents: Agent[] = [];
  const keepAlive = () => { const a = new Agent({ keepAlive: true, maxSockets: 1 }); agents.push(a); return a; };
  const asOlga = (method: string, path: string) => callOn(keepAlive(), gw.gateway.adminPorts.mtlsPort, olga, method, path);

  beforeAll(async () => {
    gw = await startGateway(pki);
    olga = pki.operator('olga');
  }, 60_000);
  afterAll(async () => {
    for (const a of agents) a.destroy();
    await gw?.gateway.close();
  });

  it('a revoked operator certificate is refused on its kept-alive connection, and so is every later one', async () => {
    const issued = await asOlga('POST', '/v1/operators/bob/certificates');
    expect(issued.status).toBe(201);
    const bob: ClientPem = { ...olga, cert: String(issued.json['certPem']), key: String(issued.json['keyPem']), serial: String(issued.json['serial']) };
    const bobAgent = keepAlive();
    const port = gw.gateway.adminPorts.mtlsPort;
    expect((await callOn(bobAgent, port, bob, 'GET', '/v1/tenants')).status).toBe(200);

    const revoked = await asOlga('POST', `/v1/certificates/${String(issued.json['serial'])}/revoke`);
    expect(revoked.json).toEqual({ revoked: [issued.json['serial']] });

    const again = await callOn(bobAgent, port, bob, 'GET', '/v1/tenants');
    expect(again.reused).toBe(true);
    expect([again.status, again.json['code']]).toEqual([401, 'TIQ_ERR_CERT_REVOKED']);
    // Nor may it change anything: e.g. issue itself a fresh certificate.
    const selfIssue = await callOn(bobAgent, port, bob, 'POST', '/v1/operators/bob2/certificates');
    expect(selfIssue.status).toBe(401);
    const fresh = await callOn(keepAlive(), port, bob, 'GET', '/v1/tenants');
    expect([fresh.status, fresh.json['code']]).toEqual([401, 'TIQ_ERR_CERT_REVOKED']);
  });

  it('a revoked app certificate is refused on its kept-alive admin connection and its MQTT session is closed', async () => {
    const issued = await asOlga('POST', '/v1/tenants/acme/apps/dashboard/certificates');
    expect(issued.status).toBe(201);
    const app: ClientPem = { ...olga, cert: String(issued.json['certPem']), key: String(issued.json['keyPem']), serial: String(issued.json['serial']) };
    const appAgent = keepAlive();
    const port = gw.gateway.adminPorts.mtlsPort;
    expect((await callOn(appAgent, port, app, 'GET', '/v1/tenants/acme/apps')).status).toBe(200);
    const mqtt: MqttClient = await connect(gw.port, app, { clientId: 'dash-1', reconnectPeriod: 0 });
    const closed = closedWithin(mqtt, 3000);

    const revoked = await asOlga('POST', '/v1/tenants/acme/apps/dashboard/revoke');
    expect(revoked.json['revoked']).toContain(issued.json['serial']);

    expect(await closed).toBe(true);
    const again = await callOn(appAgent, port, app, 'GET', '/v1/tenants/acme/apps');
    expect(again.reused).toBe(true);
    expect([again.status, again.json['code']]).toEqual([401, 'TIQ_ERR_CERT_REVOKED']);
    // Its reconnect is refused too.
    await expect(connect(gw.port, app, { clientId: 'dash-1', reconnectPeriod: 0 })).rejects.toBeTruthy();
    mqtt.end(true);
  });
});
