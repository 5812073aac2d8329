/**
 * Checking a PKCS#10 request (RFC 2986) before the CA signs for its key.
 * Only the public key is taken from a CSR: the identity comes from the
 * request path the caller is authorized for (or the claim it provisions
 * under), never from the request's subject or extensions. What is checked:
 * it parses as one PEM CERTIFICATE REQUEST; its signature verifies with its
 * own key (proof that the requester holds the private key); the signature
 * uses SHA-256 or stronger; and the key is ECDSA P-256 or RSA of at least
 * 2048 bits.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import type { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { TiqError } from '../errors.ts';

/** Signature algorithms accepted on a request, by OID (RFC 4055 §5, RFC 5758 §3.2). */
const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
};
const MAX_RSA_BITS = 8192;

export interface CheckedCsr {
  /** The request's public key, SPKI PEM. */
  readonly publicKeyPem: string;
  readonly keyType: 'ec' | 'rsa';
}

const invalid = (problem: string) => new TiqError('TIQ_ERR_CSR_INVALID', { problems: [`csr: ${problem}`] });

function parse(pem: string): { csr: CertificationRequest; key: KeyObject } {
  const m = /^\s*-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END (?:NEW )?CERTIFICATE REQUEST-----\s*$/.exec(pem);
  if (!m) throw invalid('not one PEM CERTIFICATE REQUEST');
  try {
    const csr = AsnConvert.parse(Buffer.from(m[1]!.replace(/\s/g, ''), 'base64'), CertificationRequest);
    const spki = Buffer.from(AsnConvert.serialize(csr.certificationRequestInfo.subjectPKInfo as SubjectPublicKeyInfo));
    return { csr, key: createPublicKey({ key: spki, format: 'der', type: 'spki' }) };
  } catch {
    throw invalid('not a PKCS#10 request with a public key this gateway can read');
  }
}

/** TIQ_ERR_CSR_KEY unless the key is ECDSA P-256 or RSA of 2048 to 8192 bits. */
function checkKey(key: KeyObject): 'ec' | 'rsa' {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1') return 'ec';
  if (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) >= 2048 && (d?.modulusLength ?? 0) <= MAX_RSA_BITS) return 'rsa';
  const what = key.asymmetricKeyType === 'ec' ? `EC ${String(d?.namedCurve)}` : `${String(key.asymmetricKeyType)} ${String(d?.modulusLength ?? '')}`.trim();
  throw new TiqError('TIQ_ERR_CSR_KEY', { problems: [`csr: key ${what} not allowed (ECDSA P-256, or RSA of at least 2048 bits)`] });
}

/** Throws TIQ_ERR_CSR_INVALID or TIQ_ERR_CSR_KEY; returns the request's public key. */
export function checkCsr(pem: string): CheckedCsr {
  const { csr, key } = parse(pem);
  const keyType = checkKey(key);
  const hash = SIGNATURE_HASH[csr.signatureAlgorithm.algorithm];
  if (!hash) throw invalid('signature algorithm not accepted (SHA-256 or stronger, with RSA or ECDSA)');
  const keyFamily = csr.signatureAlgorithm.algorithm.startsWith('1.2.840.10045') ? 'ec' : 'rsa';
  // The signed bytes as they came, not re-encoded: a re-encoding could differ from what was signed.
  const signed = csr.certificationRequestInfoRaw ? Buffer.from(csr.certificationRequestInfoRaw) : Buffer.from(AsnConvert.serialize(csr.certificationRequestInfo));
  let ok: boolean;
  try {
    ok = keyFamily === keyType && verify(hash, signed, key, Buffer.from(csr.signature));
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('signature does not verify with the request\'s key (no proof of possession)');
  return { publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(), keyType };
}
