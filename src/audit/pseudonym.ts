/**
 * Pseudonymous subject ids for the audit log: HMAC-SHA256 over tenant and
 * device under a per-installation secret (GDPR Art. 4(5)). The chain never
 * holds a device id, so erasing a device never means rewriting history; the
 * secret (0600, next to the log) lets an operator re-identify an entry for a
 * data subject's access request by recomputing the pseudonym.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { TiqError } from '../errors.ts';
import { fsyncDirectory, writeFileAtomic } from '../pki/secure-files.ts';

export interface Pseudonymizer {
  device(tenantId: string, deviceId: string): string;
}

/**
 * Creates the file whole or not at all: written and flushed under a temporary
 * name, then linked to its name, which fails if it exists, so two processes
 * starting together never both write a secret and a crash never leaves an
 * empty one.
 */
function createOnce(path: string, data: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileAtomic(tmp, data, 0o600);
  try {
    linkSync(tmp, path);
    fsyncDirectory(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** A 32-byte secret kept hex-encoded in a 0600 file, created on first use. */
export function loadOrCreateSecret(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    createOnce(path, randomBytes(32).toString('hex') + '\n');
    chmodSync(path, 0o600);
  }
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TiqError('TIQ_ERR_AUDIT', `audit secret ${path} is malformed`);
  return Buffer.from(hex, 'hex');
}

/** The secret in `path`, or undefined when there is none (verification never creates one). */
export function loadSecret(path: string): Buffer | undefined {
  if (!existsSync(path)) return undefined;
  const hex = readFileSync(path, 'utf8').trim();
  return /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

export function createPseudonymizer(secretPath: string): Pseudonymizer {
  return pseudonymizerFromSecret(loadOrCreateSecret(secretPath));
}

/** Over a given secret (cluster mode: derived from the secret every node holds, so pseudonyms agree). */
export function pseudonymizerFromSecret(secret: Buffer): Pseudonymizer {
  return {
    // The separator cannot occur in ids (ID_PATTERN), so (a, bc) and (ab, c) never collide.
    device: (tenantId, deviceId) => `dev_${createHmac('sha256', secret).update(`${tenantId}/${deviceId}`).digest('hex').slice(0, 32)}`,
  };
}
