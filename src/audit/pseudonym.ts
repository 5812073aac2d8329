/**
 * Pseudonymous subject ids for the audit log: HMAC-SHA256 over tenant and
 * device under a per-installation secret (GDPR Art. 4(5)). The chain never
 * holds a device id, so erasing a device never means rewriting history; the
 * secret (0600, next to the log) lets an operator re-identify an entry for a
 * data subject's access request by recomputing the pseudonym.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TiqError } from '../errors.ts';

export interface Pseudonymizer {
  device(tenantId: string, deviceId: string): string;
}

/** A 32-byte secret kept hex-encoded in a 0600 file, created on first use. */
export function loadOrCreateSecret(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      // 'wx': two processes starting together must not both write a secret.
      writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
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
  const secret = loadOrCreateSecret(secretPath);
  return {
    // The separator cannot occur in ids (ID_PATTERN), so (a, bc) and (ab, c) never collide.
    device: (tenantId, deviceId) => `dev_${createHmac('sha256', secret).update(`${tenantId}/${deviceId}`).digest('hex').slice(0, 32)}`,
  };
}
