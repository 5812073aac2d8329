/**
 * A key pair and a PKCS#10 request for it (RFC 2986), made where the key
 * will live: `thingiq pki issue` through a running gateway, and a device
 * provisioning itself by claim, send only the request, so the private key
 * never crosses the network. ECDSA P-256 by default, RSA-2048 on request.
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { DEFAULT_KEY_TYPE, newKeyPairSync, type KeyType } from './certificates.ts';
import { nameOf, spkiOf, toPem } from './x509-der.ts';

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** A CSR for an existing private key (PEM), with CN as its only subject attribute (the gateway ignores it). */
export function csrForKey(keyPem: string, commonName: string): string {
  const key = createPrivateKey(keyPem);
  const info = new CertificationRequestInfo({
    version: 0, subject: nameOf([{ shortName: 'CN', value: commonName }]), subjectPKInfo: spkiOf(createPublicKey(key)), attributes: new Attributes(),
  });
  const rsa = key.asymmetricKeyType === 'rsa';
  const alg = new AlgorithmIdentifier(rsa ? { algorithm: SHA256_WITH_RSA, parameters: null } : { algorithm: ECDSA_WITH_SHA256 });
  const signature = sign('sha256', Buffer.from(AsnConvert.serialize(info)), key);
  const csr = new CertificationRequest({ certificationRequestInfo: info, signatureAlgorithm: alg, signature: new Uint8Array(signature).buffer });
  return toPem(Buffer.from(AsnConvert.serialize(csr)), 'CERTIFICATE REQUEST');
}

export function newKeyAndCsr(commonName: string, keyType: KeyType = DEFAULT_KEY_TYPE): { keyPem: string; csrPem: string } {
  const { privateKeyPem } = newKeyPairSync(keyType);
  return { keyPem: privateKeyPem, csrPem: csrForKey(privateKeyPem, commonName) };
}
