/**
 * MQTT over WebSocket over TLS for tenant apps: mqtt.js over wss:// with the
 * run's CA (certificates verified), bearer tokens from a per-run issuer in the
 * CONNECT password or the upgrade's Authorization header, and client
 * certificates on the mutual-TLS port.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { connectWss, TestIssuer } from '../helpers/app-tokens.ts';
import { closedWithin, connect, sleep, startGateway, subackCode, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const READER = { roles: ['tenant-reader'], tenant: 'acme' };

describe('MQTT over WebSocket with bearer tokens and client certificates', () => {
  const pki = new TestPki();
  let issuer: TestIssuer;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let wsPort: number;
  let wsMtlsPort: number;
  let device: MqttClient;
  const clients: MqttClient[] = [];
  let n = 0;

  beforeAll(async () => {
    issuer = await TestIssuer.create(pki.baseDir);
    gw = await startGateway(pki, {
      admin: { port: 0, mtlsPort: 0, oauth: issuer.oauth({ mfaRequiredFor: ['operator', 'tenant-admin'] }) },
      websocket: { enabled: true, port: 0, mtlsPort: 0 },
      limits: { maxPacketBytes: 4096, minKeepaliveS: 1 },
    });
    ({ port: wsPort, mtlsPort: wsMtlsPort } = gw.gateway.wsPorts);
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
  });
  afterAll(async () => {
    for (const c of [...clients, device]) c?.end(true);
    await gw?.gateway.close();
  });

  async function app(extra: Parameters<typeof connectWss>[2]): Promise<MqttClient> {
    const c = await connectWss(wsPort, pki.caPem, { clientId: `ws-${n++}`, ...extra });
    clients.push(c);
    return c;
  }

  /** Connects with a token expected to be refused; returns the CONNACK code and the gateway's logged refusal. */
  async function refusal(token: string | undefined, username = 'dashboard') {
    const clientId = `refused-${n++}`;
    const err = await connectWss(wsPort, pki.caPem, { clientId, username, ...(token !== undefined ? { password: token } : {}) })
      .then((c) => { c.end(true); return undefined; }, (e: Error & { code?: number }) => e);
    const line = gw.logs.events('connect_refused').find((l) => l['clientId'] === clientId);
    return { returnCode: err?.code, code: line?.['code'], reason: (line?.['detail'] as { reason?: string } | undefined)?.reason };
  }

  it('listens on both ports, chosen by the system', () => {
    expect(wsPort).toBeGreaterThan(0);
    expect(wsMtlsPort).toBeGreaterThan(0);
    expect(wsMtlsPort).not.toBe(wsPort);
  });

  it('a valid token in the CONNECT password subscribes and receives a device\'s message', async () => {
    const c = await app({ username: 'dashboard', password: await issuer.sign(READER) });
    const sub = await subscribe(c, 'tenants/acme/#');
    expect(sub.granted).toBe(1);
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect((await sub.next(1)).map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-1/location']);
  });

  it('username `token` acts as the app the token\'s app claim names, within that app\'s grants', async () => {
    const c = await app({ username: 'token', password: await issuer.sign({ ...READER, app: 'trucks-only' }) });
    const sub = await subscribe(c, 'tenants/acme/#');
    await device.publishAsync('tenants/acme/devices/truck-1/sensor', encode('thingiq.telemetry.v1.SensorReading', { timeUnixMs: Date.now(), sequence: 1 }), { qos: 1 });
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sub.next(1);
    await sleep(300);
    // trucks-only may read location only: the sensor reading never arrives.
    expect(sub.received.map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-1/location']);
  });

  it('the token may come in the upgrade request\'s Authorization header instead', async () => {
    const token = await issuer.sign(READER);
    const c = await app({ username: 'dashboard', wsOptions: { headers: { authorization: `Bearer ${token}` } } });
    expect(await subackCode(c, 'tenants/acme/devices/+/location')).toBe(1);
  });

  it.each([
    ['an expired token', () => issuer.sign(READER, { exp: Math.floor(Date.now() / 1000) - 120 }), 4, 'TIQ_ERR_TOKEN_INVALID', 'ERR_JWT_EXPIRED'],
    ['a token expired a moment ago (within the clock tolerance)', () => issuer.sign(READER, { exp: Math.floor(Date.now() / 1000) - 2 }), 4, 'TIQ_ERR_TOKEN_INVALID', 'ERR_JWT_EXPIRED'],
    ['a token of another issuer', () => issuer.sign(READER, { issuer: 'https://evil.test/' }), 4, 'TIQ_ERR_TOKEN_INVALID', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['a token for another audience', () => issuer.sign(READER, { audience: 'other' }), 4, 'TIQ_ERR_TOKEN_INVALID', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['a token without the tenant claim', () => issuer.sign({ roles: ['tenant-reader'] }), 4, 'TIQ_ERR_TOKEN_INVALID', 'tenant claim'],
    ['a role that needs MFA, without amr', () => issuer.sign({ roles: ['tenant-admin'], tenant: 'acme' }), 5, 'TIQ_ERR_MFA_REQUIRED', undefined],
    ['a token with no known role', () => issuer.sign({ roles: ['superuser'], tenant: 'acme' }), 5, 'TIQ_ERR_FORBIDDEN', undefined],
    ['an operator token (apps only)', () => issuer.sign({ roles: ['operator'], amr: ['hwk'] }), 5, 'TIQ_ERR_NOT_AUTHORIZED', undefined],
    ['a token bound to another app', () => issuer.sign({ ...READER, app: 'trucks-only' }), 5, 'TIQ_ERR_NOT_AUTHORIZED', 'the token is bound to another app'],
    ['a token of an inactive tenant', () => issuer.sign({ roles: ['tenant-reader'], tenant: 'dormant' }), 5, 'TIQ_ERR_TENANT_UNKNOWN', undefined],
    ['garbage', async () => 'not-a-jwt', 4, 'TIQ_ERR_TOKEN_INVALID', undefined],
  ])('refuses %s at CONNECT, with its reason', async (_name, make, returnCode, code, reason) => {
    const r = await refusal(await make());
    expect(r.returnCode).toBe(returnCode);
    expect(r.code).toBe(code);
    if (reason) expect(r.reason).toBe(reason);
  });

  it('refuses a CONNECT without any token, an app that is not configured, and `token` without an app claim', async () => {
    expect(await refusal(undefined)).toMatchObject({ returnCode: 4, code: 'TIQ_ERR_UNAUTHENTICATED' });
    expect(await refusal(await issuer.sign(READER), 'no-such-app')).toMatchObject({ returnCode: 5, code: 'TIQ_ERR_NOT_AUTHORIZED' });
    expect(await refusal(await issuer.sign(READER), 'token')).toMatchObject({ returnCode: 5, code: 'TIQ_ERR_NOT_AUTHORIZED' });
  });

  it('a tenant\'s token cannot subscribe to another tenant, plainly or shared', async () => {
    const c = await app({ username: 'dashboard', password: await issuer.sign({ roles: ['tenant-reader'], tenant: 'globex' }) });
    for (const filter of ['tenants/acme/#', '$share/g/tenants/acme/#', '#', 'tenants/+/devices/+/location', 'tenants/acme/events/#']) {
      expect(await subackCode(c, filter)).toBe(0x80);
    }
    expect(await subackCode(c, 'tenants/globex/#')).toBe(1);
  });

  it('the connection is closed when the token expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3;
    const c = await app({ username: 'dashboard', password: await issuer.sign(READER, { exp }) });
    await subscribe(c, 'tenants/acme/#');
    expect(await closedWithin(c, 8000)).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    expect(gw.logs.events('token_expired_disconnect').some((l) => l['code'] === 'TIQ_ERR_TOKEN_INVALID')).toBe(true);
  });

  it('keepalive works over WebSocket: pings are answered, silence past 1.5 times the keepalive closes', async () => {
    const c = await app({ username: 'dashboard', password: await issuer.sign(READER), keepalive: 1 });
    await sleep(3000);
    expect(c.connected).toBe(true);
    // A raw WebSocket that sends CONNECT with keepalive 1 and then nothing.
    const ws = new WebSocket(`wss://127.0.0.1:${wsPort}/mqtt`, 'mqtt', { ca: pki.caPem });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const password = Buffer.from(await issuer.sign(READER));
    ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'silent', keepalive: 1, username: 'dashboard', password }));
    const started = Date.now();
    await new Promise((resolve) => ws.once('close', resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(gw.logs.events('connection_closed').some((l) => l['code'] === 'TIQ_ERR_KEEPALIVE' && l['listener'] === 'token')).toBe(true);
  });

  it('the certificate port admits app certificates, and no device or operator', async () => {
    const pem = pki.app('acme', 'dashboard');
    const c = await connectWss(wsMtlsPort, pki.caPem, { clientId: 'cert-app', cert: pem.cert, key: pem.key });
    clients.push(c);
    const sub = await subscribe(c, 'tenants/acme/devices/+/location');
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect((await sub.next(1)).length).toBe(1);
    const dev = pki.device('acme', 'truck-2');
    await expect(connectWss(wsMtlsPort, pki.caPem, { clientId: 'truck-2', cert: dev.cert, key: dev.key })).rejects.toMatchObject({ code: 5 });
    const op = pki.operator('alice');
    await expect(connectWss(wsMtlsPort, pki.caPem, { clientId: 'alice', cert: op.cert, key: op.key })).rejects.toMatchObject({ code: 5 });
    expect(gw.logs.events('connect_refused').filter((l) => l['code'] === 'TIQ_ERR_NOT_AUTHORIZED' && String(l['identity']).match(/^(device acme\/truck-2|operator alice)$/)).length).toBe(2);
  });

  it('the certificate port refuses a client without a certificate at the TLS handshake', async () => {
    await expect(connectWss(wsMtlsPort, pki.caPem, { clientId: 'no-cert' })).rejects.toBeTruthy();
  });

  it('a frame larger than the packet limit closes the connection before it is parsed', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${wsPort}/mqtt`, 'mqtt', { ca: pki.caPem });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(Buffer.alloc(8192, 0x10));
    const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    expect(code).toBe(1009);
    await sleep(100);
    expect(gw.logs.events('ws_refused').some((l) => l['code'] === 'TIQ_ERR_PACKET_TOO_LARGE')).toBe(true);
  });

  it('an upgrade without the mqtt subprotocol and a plain HTTPS request are refused', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${wsPort}/mqtt`, 'chat', { ca: pki.caPem });
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(400);
    const plain = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: wsPort, path: '/mqtt', ca: pki.caPem, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
        .on('error', reject).end();
    });
    expect(plain).toBe(426);
  });
});

describe('per-address connection limits cover the WebSocket listeners', () => {
  const pki = new TestPki();
  let issuer: TestIssuer;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    issuer = await TestIssuer.create(pki.baseDir);
    gw = await startGateway(pki, {
      admin: { port: 0, mtlsPort: 0, oauth: issuer.oauth() },
      websocket: { enabled: true, port: 0 },
      limits: { connections: { perAddress: 2 } },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('one TLS and one WebSocket connection fill a budget of two; the third is closed', async () => {
    const { port } = gw.gateway.wsPorts;
    clients.push(await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' }));
    clients.push(await connectWss(port, pki.caPem, { clientId: 'a', username: 'dashboard', password: await issuer.sign(READER) }));
    await expect(connectWss(port, pki.caPem, { clientId: 'b', username: 'dashboard', password: await issuer.sign(READER) })).rejects.toBeTruthy();
    expect(gw.logs.events('ws_refused').some((l) => l['code'] === 'TIQ_ERR_CONNECTION_LIMIT')).toBe(true);
  });
});
