/** Records sealed with a real AES-256-GCM key, so tests can prove only ciphertext is stored. */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SealedRecord } from '../../src/records/message.ts';

export const TEST_KEY = randomBytes(32);
export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
export const DAY = 86_400_000;

let nextSequence = 1;

export function sealJson(body: object, overrides: Partial<SealedRecord> = {}): SealedRecord {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', TEST_KEY, iv);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(body)), cipher.final()]);
  const receivedAtMs = overrides.receivedAtMs ?? T0;
  return {
    tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId: randomUUID(), sequence: nextSequence++,
    deviceTimeMs: receivedAtMs - 100, receivedAtMs, formatVersion: 1, dekId: 'dek-1', kekRef: 'local:acme:v1',
    iv, ciphertext, tag: cipher.getAuthTag(), encoding: 'json', policyId: 'default', policyVersion: 3,
    retentionClass: 'location-30d', expiresAtMs: receivedAtMs + 30 * DAY, legalHold: false,
    // Same body, same digest: a record rebuilt from the same message is a redelivery.
    contentDigest: createHash('sha256').update(JSON.stringify(body)).digest().subarray(0, 16),
    ...overrides,
  };
}

export function record(overrides: Partial<SealedRecord> = {}): SealedRecord {
  return sealJson({ lat: 52.1, lon: 4.3, seq: overrides.sequence ?? nextSequence }, overrides);
}

export async function openRecord(r: SealedRecord): Promise<Buffer> {
  const decipher = createDecipheriv('aes-256-gcm', TEST_KEY, r.iv);
  decipher.setAuthTag(r.tag);
  return Buffer.concat([decipher.update(r.ciphertext), decipher.final()]);
}

export function decodeJson(_stream: string, payload: Buffer): object {
  return JSON.parse(payload.toString('utf8')) as object;
}
