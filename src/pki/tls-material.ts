/**
 * The MQTT listener's TLS material, loaded once at start. Anything unreadable
 * or malformed stops the start with TIQ_ERR_PKI naming the file, so an
 * operator is not left with an OpenSSL decoder message.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TiqError } from '../errors.ts';
import type { PkiPaths } from './pki-store.ts';

export interface TlsMaterial {
  readonly caPem: string;
  readonly ca: X509Certificate;
  readonly certPem: string;
  readonly keyPem: string;
  readonly externalCaPem: string | undefined;
  readonly externalCa: X509Certificate | undefined;
}

function readPem(path: string, what: string, check: (pem: string) => unknown): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TiqError('TIQ_ERR_PKI', `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    check(pem);
  } catch (err) {
    throw new TiqError('TIQ_ERR_PKI', `the ${what} ${path} is not a valid PEM ${what.includes('key') ? 'private key' : 'certificate'}`, { cause: err });
  }
  return pem;
}

export function loadTlsMaterial(paths: PkiPaths, externalCaFile: string | undefined): TlsMaterial {
  const caPem = readPem(paths.caCert, 'CA certificate', (p) => new X509Certificate(p));
  const certPem = readPem(paths.serverCert, 'server certificate', (p) => new X509Certificate(p));
  const keyPem = readPem(paths.serverKey, 'server key', (p) => createPrivateKey(p));
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new TiqError('TIQ_ERR_PKI', `the server key ${paths.serverKey} does not match the server certificate ${paths.serverCert}`);
  }
  const externalCaPem = externalCaFile ? readPem(externalCaFile, 'external CA certificate', (p) => new X509Certificate(p)) : undefined;
  return {
    caPem, ca: new X509Certificate(caPem), certPem, keyPem,
    externalCaPem, externalCa: externalCaPem ? new X509Certificate(externalCaPem) : undefined,
  };
}
