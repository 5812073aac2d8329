import type { EncryptedPayload, PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../../records/message.ts';
import { newRecordId } from '../record-id.ts';
import { floorTo } from './privacy.ts';

const NO_DIGEST = Buffer.alloc(0);

/** AES-256-GCM under the tenant's (and device's) data key; no network round trip while the key is cached. */
export function encryptRecord(msg: IngestMessage, ctx: PipelineContext): StageResult | Promise<StageResult> {
  if (!ctx.sealer) return CONTINUE;
  const recordId = newRecordId(msg.receivedAtMs);
  const sealed = ctx.sealer.seal({
    tenantId: msg.tenantId, deviceId: msg.deviceId, stream: msg.stream, recordId, plaintext: msg.payload,
  });
  if (sealed instanceof Promise) return sealed.then((s) => attach(msg, ctx, recordId, s));
  return attach(msg, ctx, recordId, sealed);
}

function attach(msg: IngestMessage, ctx: PipelineContext, recordId: string, e: EncryptedPayload): StageResult {
  const tags = ctx.retention(msg.tenantId, msg.stream, msg.deviceId, msg.receivedAtMs);
  msg.sealed = {
    tenantId: msg.tenantId, deviceId: msg.deviceId, stream: msg.stream, recordId,
    sequence: msg.sequence, deviceTimeMs: msg.deviceTimeMs, receivedAtMs: msg.receivedAtMs,
    formatVersion: e.formatVersion, dekId: e.dekId, kekRef: e.kekRef, iv: e.iv, ciphertext: e.ciphertext, tag: e.tag,
    encoding: msg.encoding,
    policyId: msg.applied?.policyId ?? 'none', policyVersion: msg.applied?.policyVersion ?? 0,
    retentionClass: tags.retentionClass,
    // The expiry is stored in plaintext: no finer than the policy's time step either.
    expiresAtMs: msg.timeStepMs ? floorTo(tags.expiresAtMs, msg.timeStepMs) : tags.expiresAtMs,
    legalHold: tags.legalHold,
    contentDigest: msg.contentDigest ?? NO_DIGEST,
  };
  return CONTINUE;
}
