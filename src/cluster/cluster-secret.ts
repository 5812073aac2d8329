/**
 * Keys every node of a cluster must agree on, derived from the one secret
 * they all hold (`cluster.sessionTickets.secretFile`) with HKDF-SHA256
 * (RFC 5869), one label per purpose, so no derived key says anything about
 * another or about the secret:
 * - the audit chain's MAC key (the shared chain verifies under one key),
 * - the audit pseudonym secret (a device has one pseudonym on every node),
 * - the idempotency digest secret (a redelivery reaching another node is
 *   still recognised: docs/storage.md, "Idempotency").
 * None of them is stored anywhere; the database never sees the secret.
 */
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TiqError } from '../errors.ts';

export const MIN_SECRET_BYTES = 32;

export type ClusterKeyPurpose = 'audit-chain' | 'audit-pseudonyms' | 'idempotency';

/** The secret file's bytes; TIQ_ERR_CONFIG when missing, shorter than 32 bytes or readable by others. */
export function readClusterSecret(file: string): Buffer {
  const s = statSync(file, { throwIfNoEntry: false });
  if (!s) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`cluster.sessionTickets.secretFile: ${file} does not exist`] });
  if ((s.mode & 0o077) !== 0) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`cluster.sessionTickets.secretFile: ${file} must be mode 0600`] });
  const secret = readFileSync(file);
  if (secret.length < MIN_SECRET_BYTES) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`cluster.sessionTickets.secretFile: ${file} holds fewer than ${MIN_SECRET_BYTES} bytes`] });
  return secret;
}

export function deriveClusterKey(secret: Buffer, purpose: ClusterKeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('thingiq-cluster'), Buffer.from(`thingiq ${purpose} v1`), 32));
}

/** The idempotency digest key for contentDigester(). */
export function clusterDigestKey(secret: Buffer): KeyObject {
  const raw = deriveClusterKey(secret, 'idempotency');
  const key = createSecretKey(raw);
  raw.fill(0);
  return key;
}
