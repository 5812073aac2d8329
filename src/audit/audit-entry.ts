/**
 * One audit entry and its hash. The hash covers a canonical encoding: a JSON
 * array of the fields in a fixed order, so it never depends on key order,
 * whitespace or the JSON library that reads the file back.
 *
 * The hash is an HMAC-SHA256 under the installation's chain key, which is
 * never written into the log: without the key, an entry removed or edited
 * cannot be hidden by recomputing the hashes of the entries after it.
 */
import { createHmac } from 'node:crypto';

/** `started`: the intent of a change, written before the change is made (fail closed). */
export type AuditResult = 'started' | 'ok' | 'denied' | 'failed';

/** What a caller supplies; sequence, time and the chain are the log's. */
export interface AuditInput {
  /** Who acted: `operator:<name>`, `app:<tenant>/<app>`, `token:<sub>`, `cli:<user>`, `gateway`. */
  readonly actor: string;
  /** operator | tenant-admin | tenant-reader | none (unauthenticated) | system. */
  readonly role: string;
  /** A stable verb, e.g. `devices.revoke`, `keys.rotate`, `privacy.reload`. */
  readonly action: string;
  /** The object acted on, with subjects as pseudonyms (never a raw device id). */
  readonly target: string;
  readonly tenant: string;
  readonly result: AuditResult;
  /** An error code or outcome detail; never payloads, coordinates or key material. */
  readonly detail?: string;
}

export interface AuditEntry extends AuditInput {
  readonly seq: number;
  readonly time: string;
  readonly detail: string;
  readonly prevHash: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The fields the hash covers, in the order it covers them. */
export function canonicalEncoding(e: Omit<AuditEntry, 'hash'>): string {
  // 2: keyed (HMAC) chain; 1 was an unkeyed SHA-256 chain.
  return JSON.stringify([2, e.seq, e.time, e.actor, e.role, e.action, e.target, e.tenant, e.result, e.detail, e.prevHash]);
}

export function hashEntry(e: Omit<AuditEntry, 'hash'>, key: Buffer): string {
  return createHmac('sha256', key).update(canonicalEncoding(e), 'utf8').digest('hex');
}

export function sealEntry(input: AuditInput, seq: number, time: string, prevHash: string, key: Buffer): AuditEntry {
  const body = {
    seq, time, actor: input.actor, role: input.role, action: input.action, target: input.target,
    tenant: input.tenant, result: input.result, detail: input.detail ?? '', prevHash,
  };
  return { ...body, hash: hashEntry(body, key) };
}
