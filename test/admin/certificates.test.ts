/** Certificate lifecycle through the API: CSR issuance, generated keys, revocation, and the listeners' TLS rules. */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueClientCertificate } from '../../src/pki/certificates.ts';
import { forgeCsr, tamperCsr } from '../helpers/device-maker.ts';
import { AdminFixture, type Credentials } from './admin-fixture.ts';

const fx = new AdminFixture();
let op: Credentials;

beforeAll(async () => {
  await fx.start();
  op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
});
afterAll(() => fx.close());

/** A CSR with a hostile subject: the identity must come from the path, not from here. */
const makeCsr = () => forgeCsr('urn:thingiq:operator:root');

/** Connects to a port and reports whether the TLS handshake and one request succeed. */
function tryRequest(port: number, opts: { cert?: string; key?: string; ca: string }): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port, path: '/v1/tenants', agent: false, ...opts }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end();
  });
}

describe('certificate issuance', () => {
  it('issues from a CSR: the SAN URI names the device of the path, and no private key comes back', async () => {
    const csr = makeCsr();
    const res = await fx.call('POST', '/v1/tenants/acme/devices/truck-7/certificates', op, { csr: csr.pem });
    expect(res.status).toBe(201);
    expect(res.json['keyPem']).toBeUndefined();
    const cert = new X509Certificate(res.json['certPem'] as string);
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:truck-7');
    expect(cert.checkIssued(new X509Certificate(fx.caPem))).toBe(true);
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(csr.publicKeyPem.replace(/\r\n/g, '\n'));
    const list = await fx.call('GET', '/v1/tenants/acme/devices', op);
    const devices = list.json['devices'] as { deviceId: string; certificates: { serial: string; status: string }[] }[];
    expect(devices.find((d) => d.deviceId === 'truck-7')?.certificates).toEqual([expect.objectContaining({ serial: res.json['serial'], status: 'active' })]);
  });

  it('refuses a CSR whose signature does not verify, and garbage', async () => {
    const csr = makeCsr();
    // Flip the last byte of the signature: still a well-formed request, but not signed by its key.
    const tampered = tamperCsr(csr.pem);
    const bad = await fx.call('POST', '/v1/tenants/acme/devices/truck-7/certificates', op, { csr: tampered });
    expect([bad.status, bad.json['code']]).toEqual([400, 'TIQ_ERR_CSR_INVALID']);
    const garbage = await fx.call('POST', '/v1/tenants/acme/devices/truck-7/certificates', op, { csr: 'not a csr' });
    expect([garbage.status, garbage.json['code']]).toEqual([400, 'TIQ_ERR_CSR_INVALID']);
    const invalidId = await fx.call('POST', '/v1/tenants/acme/devices/Truck_7/certificates', op, {});
    expect([invalidId.status, invalidId.json['code']]).toEqual([400, 'TIQ_ERR_INVALID_ID']);
  });

  it('generates a key pair when no CSR is sent and returns it once: EC P-256 by default', async () => {
    const res = await fx.call('POST', '/v1/tenants/acme/devices/truck-8/certificates', op, {});
    expect(res.status).toBe(201);
    expect(createPublicKey(res.json['keyPem'] as string).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // The returned key is the certificate's: the pair a device can connect with.
    const spki = (pem: string | KeyObject) => (typeof pem === 'string' ? createPublicKey(pem) : pem).export({ type: 'spki', format: 'der' }).toString('hex');
    expect(spki(res.json['keyPem'] as string)).toBe(spki(new X509Certificate(res.json['certPem'] as string).publicKey));
  });
});

describe('revocation', () => {
  it('revokes all active certificates of a device, and a revoked operator is refused at once', async () => {
    await fx.call('POST', '/v1/tenants/acme/devices/truck-9/certificates', op, {});
    const res = await fx.call('POST', '/v1/tenants/acme/devices/truck-9/revoke', op, {});
    expect((res.json['revoked'] as string[]).length).toBe(1);
    const other = fx.certificate({ kind: 'operator', operatorName: 'oscar', uri: '' });
    expect((await fx.call('GET', '/v1/tenants', other)).status).toBe(200);
    await fx.deps.pki.revoke({ serial: other.serial }, 'test');
    const after = await fx.call('GET', '/v1/tenants', other);
    expect([after.status, after.json['code']]).toEqual([401, 'TIQ_ERR_CERT_REVOKED']);
  });

  it('answers 404 for a serial that is not this device\'s', async () => {
    const res = await fx.call('POST', '/v1/tenants/acme/devices/truck-9/revoke', op, { serial: 'abcdef' });
    expect([res.status, res.json['code']]).toEqual([404, 'TIQ_ERR_NOT_FOUND']);
  });
});

describe('listeners', () => {
  it('the mTLS listener refuses clients without a certificate and certificates of a foreign CA at the handshake', async () => {
    expect(await tryRequest(fx.ports.mtlsPort, { ca: fx.caPem })).not.toBeTypeOf('number');
    const foreignCa = createCa('Foreign CA');
    const foreign = issueClientCertificate(foreignCa, { kind: 'operator', operatorName: 'olga', uri: '' });
    expect(await tryRequest(fx.ports.mtlsPort, { ca: fx.caPem, cert: foreign.certPem, key: foreign.keyPem })).not.toBeTypeOf('number');
  });

  it('the token listener does not take certificates as credentials', async () => {
    const status = await tryRequest(fx.ports.port, { ca: fx.caPem, cert: op.cert!, key: op.key! });
    expect(status).toBe(401);
  });
});
