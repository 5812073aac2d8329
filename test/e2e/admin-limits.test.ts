/**
 * The admin API cannot be used to starve the rest of the gateway: bodies are
 * bounded (413), device groups are bounded in number and size, and both
 * listeners cap their connections and close idle or half-open sockets, so
 * MQTT devices and /readyz keep being served. Real sockets throughout.
 */
import { request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

type Answer = { status: number; json: Record<string, unknown> };

function call(port: number, pem: ClientPem, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', agent: false,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A plain TCP connection that sends nothing; resolves how long the server kept it. */
function idleTcp(port: number): { socket: Socket; closed: Promise<number> } {
  const start = Date.now();
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  return { socket, closed: new Promise((r) => socket.on('close', () => r(Date.now() - start))) };
}

const ADMIN = {
  port: 0, mtlsPort: 0, bodyLimitBytes: 4096,
  maxConnections: 6, handshakeTimeoutMs: 800, idleTimeoutMs: 1200, requestTimeoutMs: 1500,
  maxDeviceGroups: 3, maxGroupDevices: 5,
};

describe('admin API limits', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const api = (method: string, path: string, body?: unknown) =>
    call(gw.gateway.adminPorts.mtlsPort, op, method, path, body === undefined ? undefined : JSON.stringify(body));

  beforeAll(async () => {
    gw = await startGateway(pki, { admin: ADMIN });
    op = pki.operator('olga');
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('answers an oversized body with 413 TIQ_ERR_BODY_TOO_LARGE, on any route', async () => {
    const huge = { devices: Array.from({ length: 100_000 }, (_, i) => `device-${i}`) };
    const group = await api('PUT', '/v1/tenants/acme/device-groups/big-1', huge);
    expect([group.status, group.json['code']]).toEqual([413, 'TIQ_ERR_BODY_TOO_LARGE']);
    const policy = await api('PUT', '/v1/tenants/acme/privacy-policy', { policyId: 'x'.repeat(8000), version: 1 });
    expect([policy.status, policy.json['code']]).toEqual([413, 'TIQ_ERR_BODY_TOO_LARGE']);
    const groups = await api('GET', '/v1/tenants/acme/device-groups');
    expect(JSON.stringify(groups.json)).not.toContain('big-1');
  });

  it('refuses a group with more devices than admin.maxGroupDevices, and persists nothing', async () => {
    const r = await api('PUT', '/v1/tenants/acme/device-groups/six', { devices: ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6'] });
    expect([r.status, r.json['code']]).toEqual([422, 'TIQ_ERR_GROUP_LIMIT']);
    // Duplicates count once: five distinct devices fit.
    const ok = await api('PUT', '/v1/tenants/acme/device-groups/five', { devices: ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-5'] });
    expect(ok.status).toBe(200);
    const ids = ((await api('GET', '/v1/tenants/acme/device-groups')).json['deviceGroups'] as { id: string }[]).map((g) => g.id);
    expect(ids).toContain('five');
    expect(ids).not.toContain('six');
  });

  it('refuses a group beyond admin.maxDeviceGroups, but lets existing groups be replaced', async () => {
    // acme has trucks (from the config) and five: one more fits.
    expect((await api('PUT', '/v1/tenants/acme/device-groups/third', { devices: ['b-1'] })).status).toBe(200);
    const fourth = await api('PUT', '/v1/tenants/acme/device-groups/fourth', { devices: ['b-2'] });
    expect([fourth.status, fourth.json['code']]).toEqual([422, 'TIQ_ERR_GROUP_LIMIT']);
    expect((await api('PUT', '/v1/tenants/acme/device-groups/third', { devices: ['b-1', 'b-3'] })).status).toBe(200);
    const ids = ((await api('GET', '/v1/tenants/acme/device-groups')).json['deviceGroups'] as { id: string }[]).map((g) => g.id);
    expect(ids.sort()).toEqual(['five', 'third', 'trucks']);
  });

  it('closes TCP sockets that never start TLS at the handshake timeout, on both listeners', async () => {
    const { port, mtlsPort } = gw.gateway.adminPorts;
    const held = await Promise.all([idleTcp(port).closed, idleTcp(mtlsPort).closed]);
    for (const ms of held) expect(ms).toBeLessThan(ADMIN.handshakeTimeoutMs + 5000);
  });

  it('closes TLS connections that send no request at the idle timeout', async () => {
    const tls = tlsConnect({ host: '127.0.0.1', port: gw.gateway.adminPorts.port, ca: op.ca, servername: 'localhost' });
    tls.on('error', () => undefined);
    await new Promise((r) => tls.once('secureConnect', r));
    const start = Date.now();
    await new Promise((r) => tls.once('close', r));
    expect(Date.now() - start).toBeLessThan(ADMIN.idleTimeoutMs + 5000);
  });

  it('caps connections per listener: the excess is closed at once, and devices and /readyz are served', async () => {
    const { port, mtlsPort } = gw.gateway.adminPorts;
    const sockets = [...Array.from({ length: 10 }, () => idleTcp(port)), ...Array.from({ length: 10 }, () => idleTcp(mtlsPort))];
    // Over the cap of 6 per listener: 4 of each are closed long before the handshake timeout would close them.
    const early = await Promise.all(sockets.map((s) => Promise.race([s.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), ADMIN.handshakeTimeoutMs / 2))])));
    expect(early.filter((ms) => ms < ADMIN.handshakeTimeoutMs / 2)).toHaveLength(8);
    expect(gw.logs.events('admin_connection_refused').map((l) => l['code'])).toContain('TIQ_ERR_CONNECTION_LIMIT');
    // An MQTT device connects and is acknowledged while the admin listeners are full.
    const device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    device.end(true);
    // The idle ones are closed by the handshake timeout; then /readyz answers on both listeners.
    await Promise.all(sockets.map((s) => s.closed));
    for (const p of [port, mtlsPort]) expect((await call(p, op, 'GET', '/readyz')).status).toBe(200);
  });
});
