/**
 * A CA made by an older version (node-forge, RSA, the extensions it wrote)
 * keeps issuing: EC and RSA leaves chain to it, name it byte for byte as
 * issuer, and carry its key identifier; CSRs are signed under it too.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { issueClientCertificate, newKeyPairSync } from '../../src/pki/certificates.ts';
import { csrForKey } from '../../src/pki/csr-request.ts';
import { checkCsr } from '../../src/pki/csr-check.ts';

/** The CA as older versions made it: forge, RSA-2048, sha256WithRSA, basicConstraints pathLen 0, keyUsage, SKI. */
function forgeCa(): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '1f2e3d4c5b6a';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3650 * 86_400_000);
  const subject = [{ shortName: 'CN', value: 'ThingIQ Gateway Development CA' }, { shortName: 'O', value: 'ThingIQ' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

const openssl = spawnSync('openssl', ['version']).error === undefined;

describe('an RSA CA made by node-forge', () => {
  const ca = forgeCa();
  const caCert = new X509Certificate(ca.certPem);

  it.each(['ec', 'rsa'] as const)('issues %s device certificates that chain to it and name it exactly', (keyType) => {
    const leaf = new X509Certificate(issueClientCertificate(ca, { kind: 'device', tenantId: 'acme', deviceId: 'd1', uri: '' }, { keyType }).certPem);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.issuer).toBe(caCert.subject);
    expect(leaf.publicKey.asymmetricKeyType).toBe(keyType);
    expect(leaf.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:d1');
  });

  it.skipIf(!openssl && process.env['CI'] !== 'true')('openssl verifies the chain and finds the CA\'s key identifier as the authority key identifier', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thingiq-legacy-'));
    const holder = newKeyPairSync('ec');
    const issued = issueClientCertificate(ca, { kind: 'app', tenantId: 'acme', appId: 'dash', uri: '' }, { publicKeyPem: checkCsr(csrForKey(holder.privateKeyPem, 'dash')).publicKeyPem });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'leaf.crt'), issued.certPem);
    const verify = spawnSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.crt'), join(dir, 'leaf.crt')], { encoding: 'utf8' });
    expect(verify.stdout.trim()).toBe(`${join(dir, 'leaf.crt')}: OK`);
    const text = (file: string) => spawnSync('openssl', ['x509', '-in', file, '-noout', '-ext', 'subjectKeyIdentifier,authorityKeyIdentifier'], { encoding: 'utf8' }).stdout;
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text(join(dir, 'ca.crt')))?.[1];
    const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text(join(dir, 'leaf.crt')))?.[1];
    expect(ski).toBeDefined();
    expect(aki).toBe(ski);
  });
});
