/**
 * PKCS#10 requests on the admin API: only the public key is taken (the
 * identity comes from the path); src/pki/csr-check.ts holds the checks.
 */
import { checkCsr } from '../pki/csr-check.ts';

/** Throws TIQ_ERR_CSR_INVALID or TIQ_ERR_CSR_KEY; returns the request's public key as SPKI PEM. */
export function publicKeyFromCsr(pem: string): string {
  return checkCsr(pem).publicKeyPem;
}
