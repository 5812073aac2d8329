/** Certificate matrix: nothing but a valid, unrevoked client certificate of a trusted CA reaches MQTT. */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import forge from 'node-forge';
import mqttPacket from 'mqtt-packet';
import { pkiPaths, readCa } from '../../src/pki/pki-store.ts';
import { connect, sleep, startGateway, subackCode, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';

const DAY = 24 * 3600 * 1000;

/** A device certificate issued by an intermediate CA that the gateway's CA signed: [leaf, intermediate]. */
function intermediateChain(pki: TestPki): { cert: string; key: string } {
  const ca = readCa(pki.dir);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const make = (subject: string, issuerCert: forge.pki.Certificate | undefined, signKey: forge.pki.PrivateKey, isCa: boolean, san?: string) => {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const c = forge.pki.createCertificate();
    c.publicKey = keys.publicKey;
    c.serialNumber = '0' + Math.floor(Math.random() * 1e12).toString(16);
    c.validity.notBefore = new Date(Date.now() - 60_000);
    c.validity.notAfter = new Date(Date.now() + DAY);
    c.setSubject([{ shortName: 'CN', value: subject }]);
    c.setIssuer((issuerCert ?? caCert).subject.attributes);
    c.setExtensions([
      { name: 'basicConstraints', cA: isCa },
      ...(isCa ? [{ name: 'keyUsage', keyCertSign: true }] : [{ name: 'extKeyUsage', clientAuth: true }, { name: 'subjectAltName', altNames: [{ type: 6, value: san }] }]),
    ]);
    c.sign(signKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return { cert: c, key: keys.privateKey };
  };
  const inter = make('Intermediate', undefined, caKey, true);
  const leaf = make('deep-1', inter.cert, inter.key, false, 'urn:thingiq:tenant:acme:device:deep-1');
  return { cert: forge.pki.certificateToPem(leaf.cert) + forge.pki.certificateToPem(inter.cert), key: forge.pki.privateKeyToPem(leaf.key) };
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
