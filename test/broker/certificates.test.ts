/** Certificate matrix: nothing but a valid, unrevoked client certificate of a trusted CA reaches MQTT. */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { newKeyPairSync } from '../../src/pki/certificates.ts';
import { buildCertificate, CLIENT_AUTH, ext, KeyUsageFlags, signerOf } from '../../src/pki/x509-der.ts';
import mqttPacket from 'mqtt-packet';
import { pkiPaths, readCa } from '../../src/pki/pki-store.ts';
import { connect, sleep, startGateway, subackCode, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';

const DAY = 24 * 3600 * 1000;

/** A device certificate issued by an intermediate CA that the gateway's CA (EC or RSA) signed: [leaf, intermediate]. */
function intermediateChain(pki: TestPki): { cert: string; key: string } {
  const ca = readCa(pki.dir);
  const v = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY) };
  const interKey = newKeyPairSync('ec');
  const leafKey = newKeyPairSync('ec');
  const interPem = buildCertificate({
    subject: [{ shortName: 'CN', value: 'Intermediate' }], publicKey: createPublicKey(interKey.publicKeyPem), serialHex: '2a01', ...v,
    issuer: signerOf(ca.certPem, createPrivateKey(ca.keyPem)), extensions: [ext.basicConstraints(true), ext.keyUsage(KeyUsageFlags.keyCertSign)],
  });
  const leafPem = buildCertificate({
    subject: [{ shortName: 'CN', value: 'deep-1' }], publicKey: createPublicKey(leafKey.publicKeyPem), serialHex: '2a02', ...v,
    issuer: signerOf(interPem, createPrivateKey(interKey.privateKeyPem)),
    extensions: [ext.basicConstraints(false), ext.extKeyUsage(CLIENT_AUTH), ext.uriSan('urn:thingiq:tenant:acme:device:deep-1')],
  });
  return { cert: leafPem + interPem, key: leafKey.privateKeyPem };
}

describe('client certificate matrix', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  async function refusedBeforeMqtt(pem: ReturnType<TestPki['device']>) {
    const refusals = gw.logs.events('tls_refused').length;
    await expect(connect(gw.port, pem, { clientId: 'd' })).rejects.toThrow();
    expect(await gw.gateway.stats.messageCount('location', 'stored')).toBe(0);
    // refused at TLS, with one log line, not later at CONNECT
    await sleep(50);
    expect(gw.logs.events('tls_refused').length).toBe(refusals + 1);
    expect(gw.logs.events('connect_refused')).toEqual([]);
  }

  it('a certificate from a foreign CA fails the handshake', async () => {
    await refusedBeforeMqtt(pki.foreignDevice('acme', 'd'));
    expect(gw.logs.events('tls_refused').some((l) => l['code'] === 'TIQ_ERR_TLS_HANDSHAKE')).toBe(true);
  });

  it('an expired certificate fails the handshake', async () => {
    await refusedBeforeMqtt(pki.device('acme', 'd', { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }));
  });

  it('a not-yet-valid certificate fails the handshake', async () => {
    await refusedBeforeMqtt(pki.device('acme', 'd', { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) }));
  });

  it('a certificate with the serverAuth usage only is refused as a client', async () => {
    const before = gw.logs.events('tls_refused').length;
    await refusedBeforeMqtt(pki.device('acme', 'd', { extKeyUsage: 'serverAuth' }));
    await sleep(50);
    // OpenSSL refuses the purpose in the handshake (peer-identity.test.ts covers the gateway's own check behind it).
    expect(gw.logs.events('tls_refused').length).toBeGreaterThan(before);
  });

  it('a chain through an intermediate CA is refused (the CA has pathLen 0; identity only from certificates it issued)', async () => {
    const chain = intermediateChain(pki);
    await expect(connect(gw.port, { ...pki.device('acme', 'x'), cert: chain.cert, key: chain.key }, { clientId: 'deep-1' })).rejects.toThrow();
    expect(await gw.gateway.stats.messageCount('location', 'stored')).toBe(0);
  });

  it('no client certificate at all fails the handshake: a CONNECT sent anyway gets no answer', async () => {
    const before = gw.logs.events('tls_refused').length;
    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: pki.caPem, servername: 'localhost' });
      s.on('secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'truck-1', keepalive: 30 })));
      s.on('data', (d: Buffer) => { bytes += d.length; });
      s.on('error', () => undefined);
      s.on('close', () => resolve(bytes));
    });
    expect(received).toBe(0);
    await sleep(50);
    expect(gw.logs.events('tls_refused').length).toBe(before + 1);
  });

  it('a revoked certificate is refused, and a live connection with it is closed within a second', async () => {
    const pem = pki.device('acme', 'truck-9');
    const live = await connect(gw.port, pem, { clientId: 'truck-9' });
    const closedAt = new Promise<number>((r) => live.once('close', () => r(Date.now())));
    const revokedAt = Date.now();
    await withSecondControlStore(gw.gateway, (store) => new IssuanceRegistry(pkiPaths(pki.dir).registry, store).revoke({ serial: pem.serial }, 'test'));
    expect((await closedAt) - revokedAt).toBeLessThan(1000);
    await expect(connect(gw.port, pem, { clientId: 'truck-9' })).rejects.toThrow();
    expect(gw.logs.events('tls_refused').some((l) => l['code'] === 'TIQ_ERR_CERT_REVOKED')).toBe(true);
  });

  it('the username and password of CONNECT confer nothing: identity is the certificate\'s', async () => {
    const c = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'x', username: 'globex', password: 'admin' });
    expect(await subackCode(c, 'tenants/globex/#')).toBe(0x80);
    c.end(true);
  });

  it('an operator may read $SYS, nothing else', async () => {
    const op = await connect(gw.port, pki.operator('alice'), { clientId: 'ops' });
    expect(await subackCode(op, '$SYS/#')).toBe(1);
    expect(await subackCode(op, 'tenants/acme/#')).toBe(0x80);
    op.end(true);
  });
});
