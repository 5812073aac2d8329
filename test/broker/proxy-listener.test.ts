/**
 * The MQTT listener with `mqtt.proxyProtocol`: real sockets, a real gateway
 * and real TLS, with a hand-built PROXY v2 header in front of the client's
 * ClientHello (the same bytes as HAProxy's `send-proxy-v2`; the test through
 * HAProxy itself is in test/deploy/haproxy.test.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { ProxyHeader } from '../../src/broker/proxy-protocol.ts';
import { clientOptions, connect, sleep } from '../helpers/gateway.ts';
import { useGatewayPerTest } from '../helpers/gateway-rigs.ts';
import { encodeProxyHeader, startRelay } from '../helpers/proxy-header.ts';

const perTest = useGatewayPerTest();
const { pki, defer } = perTest;

function start(mqttExtra: Record<string, unknown> = {}, limits: Record<string, unknown> = {}) {
  return perTest.start({ mqtt: { proxyProtocol: true, ...mqttExtra }, limits: { tlsHandshakeTimeoutMs: 5000, ...limits } });
}

function from(address: string, port = 40000): ProxyHeader {
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  return { command: 'proxy', source: { address, port, family }, destination: { address: family === 'IPv6' ? '::1' : '127.0.0.1', port: 8883, family } };
}

/** Connects a device through a relay that sends `header` first; resolves on CONNACK. */
async function throughRelay(port: number, header: ProxyHeader, deviceId: string, coalesce = true): Promise<MqttClient> {
  const relay = await startRelay(port, () => encodeProxyHeader(header), { coalesce });
  defer(relay.close);
  const client = await connect(relay.port, pki.device('acme', deviceId), { clientId: deviceId, servername: 'localhost' });
  defer(() => client.end(true));
  return client;
}

/** Resolves once the socket is closed by the gateway. */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    if (socket.destroyed) resolve();
    socket.once('close', () => resolve());
  });
}

describe('PROXY protocol v2 on the MQTT listener', () => {
  it('the gateway sees the address from the header: the per-address limit counts the device, not the balancer', async () => {
    const gw = await start({}, { connections: { perAddress: 1 } });
    const a = await throughRelay(gw.port, from('203.0.113.7'), 'pp-1');
    const b = await throughRelay(gw.port, from('2001:db8::9'), 'pp-2', false);
    expect(gw.gateway.limits!.perAddress.count('203.0.113.7')).toBe(1);
    expect(gw.gateway.limits!.perAddress.count('2001:db8::9')).toBe(1);
    expect(gw.gateway.limits!.perAddress.count('127.0.0.1')).toBe(0);
    // Both came from the same relay on 127.0.0.1 under a limit of 1: a second device from 203.0.113.7 is the one refused.
    await expect(throughRelay(gw.port, from('203.0.113.7', 40001), 'pp-3')).rejects.toThrow();
    const refused = gw.logs.events('tls_refused').filter((l) => l['code'] === 'TIQ_ERR_CONNECTION_LIMIT');
    expect(refused.map((l) => l['remoteAddress'])).toEqual(['203.0.113.7']);
    expect(a.connected && b.connected).toBe(true);
    // A closed connection gives its place back.
    await a.endAsync();
    const deadline = Date.now() + 5000;
    while (gw.gateway.limits!.perAddress.count('203.0.113.7') > 0 && Date.now() < deadline) await sleep(50);
    expect(gw.gateway.limits!.perAddress.count('203.0.113.7')).toBe(0);
    expect((await throughRelay(gw.port, from('203.0.113.7', 40002), 'pp-3')).connected).toBe(true);
  });

  it('a TLS handshake refused behind the balancer is logged with the client address', async () => {
    const gw = await start();
    const relay = await startRelay(gw.port, () => encodeProxyHeader(from('198.51.100.4')), { coalesce: true });
    defer(relay.close);
    await expect(connect(relay.port, pki.foreignDevice('acme', 'f-1'), { servername: 'localhost' })).rejects.toThrow();
    await sleep(100);
    const refused = gw.logs.events('tls_refused').filter((l) => l['code'] === 'TIQ_ERR_TLS_HANDSHAKE');
    expect(refused.map((l) => l['remoteAddress'])).toEqual(['198.51.100.4']);
  });

  it('a connection without a header (a client straight to the port) is closed with TIQ_ERR_PROXY_PROTOCOL and counted', async () => {
    const gw = await start();
    expect(gw.logs.events('proxy_protocol_any_source')).toHaveLength(1);
    await expect(connect(gw.port, pki.device('acme', 'direct-1'), { clientId: 'direct-1', servername: 'localhost' })).rejects.toThrow();
    const refused = gw.logs.events('proxy_refused');
    expect(refused.map((l) => l['code'])).toEqual(['TIQ_ERR_PROXY_PROTOCOL']);
    expect(refused[0]!['remoteAddress']).toBe('127.0.0.1');
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_PROXY_PROTOCOL')).toBe(1);
    expect(gw.gateway.limits!.perAddress.count('127.0.0.1')).toBe(0);
  });

  it('a bad header (version 1 text, UDP) is refused; the listener keeps serving', async () => {
    const gw = await start();
    for (const bytes of [Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 8883\r\n'), Buffer.from(encodeProxyHeader(from('203.0.113.7')).fill(0x12, 13, 14))]) {
      const s = netConnect(gw.port, '127.0.0.1');
      s.write(bytes);
      await closed(s);
    }
    expect(gw.logs.events('proxy_refused').map((l) => l['code'])).toEqual(['TIQ_ERR_PROXY_PROTOCOL', 'TIQ_ERR_PROXY_PROTOCOL']);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_PROXY_PROTOCOL')).toBe(2);
    const ok = await throughRelay(gw.port, from('203.0.113.8'), 'pp-4');
    expect(ok.connected).toBe(true);
  });

  it('a silent connection, or one stopping mid-header, is closed after the handshake timeout; one leaving mid-header is refused', async () => {
    const gw = await start({}, { tlsHandshakeTimeoutMs: 300 });
    const silent = netConnect(gw.port, '127.0.0.1');
    const partial = netConnect(gw.port, '127.0.0.1');
    partial.write(encodeProxyHeader(from('203.0.113.7')).subarray(0, 20));
    const gone = netConnect(gw.port, '127.0.0.1');
    gone.end(encodeProxyHeader(from('203.0.113.7')).subarray(0, 10));
    await Promise.all([closed(silent), closed(partial), closed(gone)]);
    await sleep(50);
    const reasons = gw.logs.events('proxy_refused').map((l) => l['code']);
    expect(reasons).toEqual(['TIQ_ERR_PROXY_PROTOCOL', 'TIQ_ERR_PROXY_PROTOCOL', 'TIQ_ERR_PROXY_PROTOCOL']);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_PROXY_PROTOCOL')).toBe(3);
  });

  it('LOCAL (a balancer health check) that closes, or a bare TCP check, is not an error; LOCAL then TLS connects with the real address', async () => {
    const gw = await start();
    const check = netConnect(gw.port, '127.0.0.1');
    check.end(encodeProxyHeader({ command: 'local' }));
    await closed(check);
    // A bare TCP check: connect, close, no byte.
    const bare = netConnect(gw.port, '127.0.0.1');
    await new Promise<void>((r) => bare.once('connect', () => r()));
    bare.end();
    await closed(bare);
    await sleep(100);
    expect(gw.logs.events('proxy_refused')).toHaveLength(0);
    expect(gw.logs.events('tls_refused')).toHaveLength(0);

    const raw = netConnect(gw.port, '127.0.0.1');
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.write(encodeProxyHeader({ command: 'local' }));
    const pem = pki.device('acme', 'local-1');
    const tls = tlsConnect({ socket: raw, ca: pem.ca, cert: pem.cert, key: pem.key, servername: 'localhost' });
    const client = new mqtt.MqttClient(() => tls, { ...clientOptions(gw.port, pem, { clientId: 'local-1' }) });
    defer(() => client.end(true));
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    expect(gw.gateway.limits!.perAddress.count('127.0.0.1')).toBe(1);
  });

  it('mqtt.proxyProtocolFrom: a source outside the list is closed before its header is read', async () => {
    const gw = await start({ proxyProtocolFrom: ['10.0.0.0/8', 'fd00::/8'] });
    expect(gw.logs.events('proxy_protocol_any_source')).toHaveLength(0);
    const s = netConnect(gw.port, '127.0.0.1');
    s.write(encodeProxyHeader(from('203.0.113.7')));
    await closed(s);
    expect(gw.logs.events('proxy_refused').map((l) => l['code'])).toEqual(['TIQ_ERR_PROXY_PROTOCOL']);
    await gw.gateway.close();
    const again = await start({ proxyProtocolFrom: ['127.0.0.0/8'] });
    const ok = await throughRelay(again.port, from('203.0.113.9'), 'pp-5');
    expect(ok.connected).toBe(true);
  });
});
