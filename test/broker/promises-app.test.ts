/**
 * The README's promises to application developers, tried as an app that
 * wants more than its grants: a persistent session's queue, retained
 * messages and a shared group mixing apps of different grants must all
 * deliver within each app's grants, and a revoked app certificate must end
 * its sessions on TLS and on the WebSocket certificate port, resumed TLS
 * session or not. Real mutual TLS, mqtt.js and raw sockets, port 0.
 */
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { connectWss } from '../helpers/app-tokens.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { clientOptions, closedWithin, connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

interface WsAttempt { reused: boolean; status: number | undefined; connack: number | undefined; session: Buffer | undefined }

/**
 * One TLS connection to the WebSocket certificate port (resuming `session` if
 * given): upgrade, one CONNECT in a masked binary frame [RFC 6455 §5.3], and
 * what came back.
 */
function wsAttempt(port: number, pem: ClientPem, clientId: string, session?: Buffer): Promise<WsAttempt> {
  return new Promise((resolve) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', ...(session ? { session } : {}) });
    const out: WsAttempt = { reused: false, status: undefined, connack: undefined, session: undefined };
    let buf = Buffer.alloc(0);
    s.on('session', (sess: Buffer) => { out.session = sess; });
    s.on('secureConnect', () => {
      out.reused = s.isSessionReused();
      s.write(`GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`);
      const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 });
      const mask = randomBytes(4);
      const masked = Buffer.from(connectPacket.map((b, i) => b ^ mask[i % 4]!));
      s.write(Buffer.concat([Buffer.from([0x82, 0x80 | connectPacket.length]), mask, masked]));
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      out.status = Number(/^HTTP\/1\.1 (\d+)/.exec(buf.subarray(0, end).toString())?.[1]);
      const mqttBytes = unframe(buf.subarray(end + 4));
      // CONNACK: 0x20 0x02, flags, return code.
      if (mqttBytes.length >= 4 && mqttBytes[0] === 0x20) out.connack = mqttBytes[3];
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(out));
    setTimeout(() => s.end(), 1500);
  });
}

/** The payloads of a server's binary frames (unmasked, short lengths), concatenated; an incomplete last frame is left out. */
function unframe(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 2 <= bytes.length && (bytes[at + 1]! & 0x7f) < 126) {
    const len = bytes[at + 1]! & 0x7f;
    if (at + 2 + len > bytes.length) break;
    parts.push(bytes.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return Buffer.concat(parts);
}

describe('promises to application developers, tried by an app wanting more than its grants', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let wsMtlsPort: number;
  const op = pki.operator('alice');
  const clients: MqttClient[] = [];
  const devices = new Map<string, MqttClient>();

  async function publish(deviceId: string, stream: 'location' | 'sensor', retain = false): Promise<void> {
    let c = devices.get(deviceId);
    if (!c) {
      c = await connect(gw.port, pki.device('acme', deviceId), { clientId: deviceId });
      devices.set(deviceId, c);
    }
    const payload = stream === 'location' ? encode(VEHICLE, vehicle()) : encode(SENSOR, sensor());
    await c.publishAsync(`tenants/acme/devices/${deviceId}/${stream}`, payload, { qos: 1, retain });
  }

  async function app(appId: string, clientId: string, extra: Parameters<typeof connect>[2] = {}): Promise<MqttClient> {
    const c = await connect(gw.port, pki.app('acme', appId), { clientId, ...extra });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    gw = await startGateway(pki, { websocket: { enabled: true, port: 0, mtlsPort: 0 } });
    wsMtlsPort = gw.gateway.wsPorts.mtlsPort;
  });
  afterAll(async () => {
    for (const c of [...clients, ...devices.values()]) c.end(true);
    await gw?.gateway.close();
  });

  it('a persistent session\'s queue holds only what the app\'s grants allow', async () => {
    // trucks-only: device group trucks (truck-1, truck-2), stream location.
    const first = await app('trucks-only', 'queue-1', { clean: false });
    await first.subscribeAsync('tenants/acme/#', { qos: 1 });
    first.end();
    await closedWithin(first);
    await publish('truck-3', 'location'); // outside the group
    await publish('truck-1', 'sensor'); // outside the streams
    await publish('truck-1', 'location'); // granted
    // Listening before CONNACK: the queue may arrive in the same read as the CONNACK.
    const again = mqtt.connect(clientOptions(gw.port, pki.app('acme', 'trucks-only'), { clientId: 'queue-1', clean: false }));
    clients.push(again);
    const topics: string[] = [];
    again.on('message', (topic) => topics.push(topic));
    await new Promise((resolve) => again.once('connect', resolve));
    await sleep(800);
    expect(topics).toEqual(['tenants/acme/devices/truck-1/location']);
  });

  it('a retained message of a device outside the grants is not handed to a new subscriber', async () => {
    await publish('truck-4', 'location', true);
    await publish('truck-2', 'location', true);
    const c = await app('trucks-only', 'retained-1');
    const sub = await subscribe(c, 'tenants/acme/devices/+/location');
    await sub.next(2, 800);
    expect(sub.received.map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-2/location']);
    // The same filter without grant limits gets both: the retained message is there to be refused.
    const dash = await app('dashboard', 'retained-2');
    const all = await subscribe(dash, 'tenants/acme/devices/+/location');
    await all.next(2, 1500);
    expect(all.received.map((m) => m.topic).sort()).toEqual(['tenants/acme/devices/truck-2/location', 'tenants/acme/devices/truck-4/location']);
  });

  it('a shared group of apps with different grants: each message reaches exactly one member allowed to see it', async () => {
    const filter = '$share/mixed/tenants/acme/devices/+/location';
    const limited = await subscribe(await app('trucks-only', 'mixed-1'), filter);
    const full = await subscribe(await app('dashboard', 'mixed-2'), filter);
    for (let i = 0; i < 4; i++) {
      await publish('truck-5', 'location'); // only the dashboard may see it
      await publish('truck-1', 'location'); // either may
    }
    await full.next(5, 2000);
    await sleep(300);
    const limitedTopics = limited.received.map((m) => m.topic);
    const fullTopics = full.received.map((m) => m.topic);
    expect(limitedTopics.every((t) => t === 'tenants/acme/devices/truck-1/location')).toBe(true);
    expect(fullTopics.filter((t) => t.includes('/truck-5/'))).toHaveLength(4);
    expect(limitedTopics.length + fullTopics.length).toBe(8);
    expect(limitedTopics.length).toBeGreaterThan(0); // the round robin did reach the limited member
  });

  it('a revoked app certificate ends its live sessions on TLS and on the WebSocket certificate port', async () => {
    const pem = pki.app('acme', 'dashboard');
    const tls = await connect(gw.port, pem, { clientId: 'rev-tls' });
    const ws = await connectWss(wsMtlsPort, pki.caPem, { clientId: 'rev-ws', cert: pem.cert, key: pem.key });
    clients.push(tls, ws);
    // A TLS session ticket from before the revocation, on the WebSocket certificate port.
    const before = await wsAttempt(wsMtlsPort, pem, 'rev-raw');
    expect(before.status).toBe(101);
    expect(before.connack).toBe(0);
    expect(before.session).toBeDefined();
    const tlsClosed = closedWithin(tls, 3000);
    const wsClosed = closedWithin(ws, 3000);
    const res = await adminCall(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/apps/dashboard/revoke', { serial: pem.serial });
    expect(res.status).toBe(200);
    expect(await tlsClosed).toBe(true);
    expect(await wsClosed).toBe(true);
    await expect(connect(gw.port, pem, { clientId: 'rev-tls-2' })).rejects.toBeTruthy();
    await expect(connectWss(wsMtlsPort, pki.caPem, { clientId: 'rev-ws-2', cert: pem.cert, key: pem.key })).rejects.toBeTruthy();
    const resumed = await wsAttempt(wsMtlsPort, pem, 'rev-raw-2', before.session);
    expect(resumed.reused).toBe(true);
    expect(resumed.status).toBe(401);
    expect(resumed.connack).toBeUndefined();
    expect(gw.logs.lines.some((l) => l['code'] === 'TIQ_ERR_CERT_REVOKED')).toBe(true);
  });
});
