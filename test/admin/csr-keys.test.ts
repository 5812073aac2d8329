/**
 * CSRs of every key kind through the admin API: EC P-256 and RSA-2048 are
 * signed for devices and apps; P-384, RSA-1024, a broken signature and
 * garbage are refused with their own code; generated keys follow keyType.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { csrForKey } from '../../src/pki/csr-request.ts';
import { spkiOf, toPem } from '../../src/pki/x509-der.ts';
import { newKeyPairSync } from '../../src/pki/certificates.ts';
import { haveOpenssl, opensslKeyAndCsr, tamperCsr, type MakerKey } from '../helpers/device-maker.ts';
import { AdminFixture, type Credentials } from './admin-fixture.ts';

const fx = new AdminFixture();
const dir = mkdtempSync(join(tmpdir(), 'thingiq-csr-'));
let op: Credentials;

beforeAll(async () => {
  await fx.start();
  op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
});
afterAll(() => fx.close());

const spkiHex = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('hex');

describe.skipIf(!haveOpenssl)('CSR key kinds', () => {
  it.each([['P-256', 'ec'], ['rsa:2048', 'rsa']] as const)('signs an openssl %s CSR for a device and for an app, for the CSR\'s own key', async (kind, type) => {
    const made = await opensslKeyAndCsr(dir, `ok-${type}`, kind);
    for (const path of [`/v1/tenants/acme/devices/csr-${type}/certificates`, `/v1/tenants/acme/apps/csr-${type}/certificates`]) {
      const res = await fx.call('POST', path, op, { csr: made.csrPem });
      expect(res.status).toBe(201);
      const cert = new X509Certificate(res.json['certPem'] as string);
      expect(cert.publicKey.asymmetricKeyType).toBe(type);
      expect(spkiHex(made.keyPem)).toBe(cert.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
      expect(cert.checkIssued(new X509Certificate(fx.caPem))).toBe(true);
      expect(cert.verify(new X509Certificate(fx.caPem).publicKey)).toBe(true);
    }
  });

  it.each([['P-384', 'TIQ_ERR_CSR_KEY'], ['rsa:1024', 'TIQ_ERR_CSR_KEY']] as [MakerKey, string][])('refuses a %s CSR with %s and issues nothing', async (kind, code) => {
    const made = await opensslKeyAndCsr(dir, `bad-${kind.replace(':', '-')}`, kind);
    const before = (await fx.call('GET', '/v1/tenants/acme/devices', op)).json['devices'] as unknown[];
    const res = await fx.call('POST', '/v1/tenants/acme/devices/csr-weak/certificates', op, { csr: made.csrPem });
    expect([res.status, res.json['code']]).toEqual([400, code]);
    expect((await fx.call('GET', '/v1/tenants/acme/devices', op)).json['devices']).toEqual(before);
  });

  it('refuses an EC CSR whose signature does not verify, and garbage, with TIQ_ERR_CSR_INVALID', async () => {
    const made = await opensslKeyAndCsr(dir, 'tampered', 'P-256');
    for (const csr of [tamperCsr(made.csrPem), 'not a csr', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n']) {
      const res = await fx.call('POST', '/v1/tenants/acme/apps/csr-bad/certificates', op, { csr });
      expect([res.status, res.json['code']]).toEqual([400, 'TIQ_ERR_CSR_INVALID']);
    }
  });

  it('a CSR carrying another key than the one that signed it is no proof of possession: TIQ_ERR_CSR_INVALID', async () => {
    const signer = newKeyPairSync('ec');
    const victim = newKeyPairSync('ec');
    const csr = AsnConvert.parse(Buffer.from(csrForKey(signer.privateKeyPem, 'x').replace(/-----[^-]+-----|\s/g, ''), 'base64'), CertificationRequest);
    // The victim's public key in the signed part, the signer's signature kept: well-formed, but not signed by its key.
    csr.certificationRequestInfo.subjectPKInfo = spkiOf(createPublicKey(victim.publicKeyPem));
    delete csr.certificationRequestInfoRaw;
    const swapped = toPem(Buffer.from(AsnConvert.serialize(csr)), 'CERTIFICATE REQUEST');
    const res = await fx.call('POST', '/v1/tenants/acme/devices/csr-swap/certificates', op, { csr: swapped });
    expect([res.status, res.json['code']]).toEqual([400, 'TIQ_ERR_CSR_INVALID']);
    const own = await fx.call('POST', '/v1/tenants/acme/devices/csr-own/certificates', op, { csr: csrForKey(signer.privateKeyPem, 'x') });
    expect(own.status).toBe(201);
  });

  it('generates an RSA key pair when asked with keyType rsa, EC otherwise', async () => {
    const rsa = await fx.call('POST', '/v1/tenants/acme/devices/gen-rsa/certificates', op, { keyType: 'rsa' });
    expect(rsa.status).toBe(201);
    expect(createPublicKey(rsa.json['keyPem'] as string).asymmetricKeyType).toBe('rsa');
    expect(new X509Certificate(rsa.json['certPem'] as string).publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const ec = await fx.call('POST', '/v1/tenants/acme/apps/gen-ec/certificates', op, {});
    expect(createPublicKey(ec.json['keyPem'] as string).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const bad = await fx.call('POST', '/v1/tenants/acme/apps/gen-ec/certificates', op, { keyType: 'dsa' });
    expect([bad.status, bad.json['code']]).toEqual([400, 'TIQ_ERR_BAD_REQUEST']);
  });
});
