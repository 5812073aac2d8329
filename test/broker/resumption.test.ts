/**
 * TLS session resumption brings back the certificate of the full handshake
 * without OpenSSL verifying it again: a certificate revoked or expired since
 * must still be refused on a resumed connection.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import { pkiPaths } from '../../src/pki/pki-store.ts';
import { sleep, startGateway, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

interface Attempt { reused: boolean; connack: number | undefined; closed: boolean; session: Buffer | undefined }

/** One TLS connection (resuming `session` if given) sending CONNECT; resolves with what came back. */
function attempt(port: number, pem: ClientPem, clientId: string, session?: Buffer): Promise<Attempt> {
  return new Promise((resolve) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', ...(session ? { session } : {}) });
    const result: Attempt = { reused: false, connack: undefined, closed: false, session: undefined };
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => { if (p.cmd === 'connack') result.connack = (p as mqttPacket.IConnackPacket).returnCode; });
    s.on('session', (sess: Buffer) => { result.session = sess; });
    s.on('secureConnect', () => {
      result.reused = s.isSessionReused();
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 }));
    });
    s.on('data', (d) => parser.parse(d));
    s.on('error', () => undefined);
    s.on('close', () => { result.closed = true; resolve(result); });
    setTimeout(() => { s.end(); }, 1500);
  });
}

describe('TLS session resumption', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  it('resumes sessions (what makes a fleet reconnect cheap)', async () => {
    const pem = pki.device('acme', 'truck-1');
    const first = await attempt(gw.port, pem, 'truck-1');
    expect(first.connack).toBe(0);
    expect(first.session).toBeDefined();
    const again = await attempt(gw.port, pem, 'truck-1', first.session);
    expect(again.reused).toBe(true);
    expect(again.connack).toBe(0);
  });

  it('a certificate revoked since the session was made is refused on resumption', async () => {
    const pem = pki.device('acme', 'truck-2');
    const first = await attempt(gw.port, pem, 'truck-2');
    expect(first.connack).toBe(0);
    await withSecondControlStore(gw.gateway, (store) => new IssuanceRegistry(pkiPaths(pki.dir).registry, store).revoke({ serial: pem.serial }, 'test'));
    await sleep(400);
    const again = await attempt(gw.port, pem, 'truck-2', first.session);
    expect(again.reused).toBe(true);
    expect(again.connack).toBeUndefined();
  });

  it('a certificate expired since the session was made is refused on resumption', async () => {
    const pem = pki.device('acme', 'truck-3', { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 2500) });
    const first = await attempt(gw.port, pem, 'truck-3');
    expect(first.connack).toBe(0);
    await sleep(2600);
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_CERT_EXPIRED');
    const again = await attempt(gw.port, pem, 'truck-3', first.session);
    expect(again.reused).toBe(true);
    expect(again.connack).toBeUndefined();
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_CERT_EXPIRED')).toBe(before + 1);
  });
});
