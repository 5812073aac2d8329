/**
 * PKCS#10 requests (RFC 2986). Only the public key is taken from a CSR: the
 * identity comes from the API path the caller is authorized for, never from
 * the request's subject or extensions, and the signature must verify
 * (proof that the requester holds the private key).
 */
import forge from 'node-forge';
import { TiqError } from '../errors.ts';

export function publicKeyFromCsr(pem: string): string {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (err) {
    // node-forge parses RSA requests only.
    throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: [`csr: not a PEM PKCS#10 RSA request (${(err as Error).message.slice(0, 120)})`] });
  }
  if (!verifies(csr)) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['csr: signature does not verify'] });
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!key || key.n.bitLength() < 2048) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['csr: RSA key of at least 2048 bits required'] });
  return forge.pki.publicKeyToPem(key);
}

/** node-forge throws, rather than returning false, on some malformed signatures. */
function verifies(csr: forge.pki.CertificateSigningRequest): boolean {
  try {
    return csr.verify();
  } catch {
    return false;
  }
}
