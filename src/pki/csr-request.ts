/**
 * A key pair and a PKCS#10 request for it (RFC 2986), made where the key
 * will live: `thingiq pki issue` through a running gateway sends only the
 * request, so the private key never crosses the admin API. RSA 2048, the
 * kind node-forge parses on the other side.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export function newKeyAndCsr(commonName: string): { keyPem: string; csrPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(key, forge.md.sha256.create());
  return { keyPem, csrPem: forge.pki.certificationRequestToPem(csr) };
}
