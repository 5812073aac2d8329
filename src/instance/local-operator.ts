/**
 * The local operator: an operator certificate of the gateway's own CA, kept
 * in `<dataDir>/operator/` (directory 0700, key 0600). Whoever may read the
 * data directory may administer this gateway anyway; the certificate lets
 * the CLI act through the admin API's mTLS listener like any operator, so
 * its actions pass the same checks and are audited as `operator:local`.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IssuanceRegistry } from '../pki/issuance-registry.ts';
import { issueIdentity, pkiPaths, readCa } from '../pki/pki-store.ts';

export const LOCAL_OPERATOR = 'local';
export const LOCAL_OPERATOR_ACTOR = `operator:${LOCAL_OPERATOR}`;

const VALID_DAYS = 90;
const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface LocalOperatorFiles {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export function localOperatorFiles(dataDir: string): LocalOperatorFiles {
  const dir = join(dataDir, 'operator');
  return { dir, certFile: join(dir, `${LOCAL_OPERATOR}.crt`), keyFile: join(dir, `${LOCAL_OPERATOR}.key`), caFile: join(dir, 'ca.crt') };
}

/** Issues the local operator's certificate when it is missing, near expiry, revoked or from another CA. */
export function ensureLocalOperator(pkiDir: string, dataDir: string): LocalOperatorFiles & { issued: boolean } {
  const files = localOperatorFiles(dataDir);
  if (usable(pkiDir, files)) return { ...files, issued: false };
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  issueIdentity(pkiDir, { kind: 'operator', operatorName: LOCAL_OPERATOR, uri: '' }, files.dir, { days: VALID_DAYS });
  // Everything in the data directory is owner-only, certificates included.
  for (const f of readdirSync(files.dir)) chmodSync(join(files.dir, f), 0o600);
  return { ...files, issued: true };
}

function usable(pkiDir: string, files: LocalOperatorFiles): boolean {
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return false;
  try {
    const cert = new X509Certificate(readFileSync(files.certFile));
    const ca = new X509Certificate(readCa(pkiDir).certPem);
    if (!cert.verify(ca.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    return !new IssuanceRegistry(pkiPaths(pkiDir).registry).isRevoked(cert.serialNumber);
  } catch {
    return false;
  }
}
