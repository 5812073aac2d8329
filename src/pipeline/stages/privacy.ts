import type { PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../../records/message.ts';

/**
 * The tenant's location-privacy policy rewrites the body in place, then the
 * body is re-encoded: from here on the device's original bytes are gone, so
 * pre-policy location cannot reach subscribers, storage or logs.
 */
export function applyPrivacyPolicy(msg: IngestMessage, ctx: PipelineContext): StageResult {
  const body = msg.body!;
  const outcome = ctx.privacy().apply({
    tenantId: msg.tenantId, deviceId: msg.deviceId, stream: msg.stream,
    messageType: msg.messageType, receivedAtMs: msg.receivedAtMs, body,
  });
  msg.applied = outcome.applied;
  const step = outcome.timeStepMs;
  if (step) {
    msg.timeStepMs = step;
    msg.receivedAtMs = floorTo(msg.receivedAtMs, step);
  }
  if (outcome.kind === 'drop') {
    msg.body = undefined;
    msg.payload = Buffer.alloc(0);
    return { kind: 'drop', reason: outcome.reason };
  }
  // The gateway, not the device, says which policy was applied.
  body['appliedPolicy'] = {
    policyId: outcome.applied.policyId,
    version: outcome.applied.policyVersion,
    locationAction: outcome.applied.locationAction,
  };
  // The policy may coarsen the device clock: what is stored beside the ciphertext must be the policy's value.
  if (typeof body['timeUnixMs'] === 'number') msg.deviceTimeMs = body['timeUnixMs'];
  msg.payload = ctx.codec.encode(msg.messageType, body, msg.encoding);
  return CONTINUE;
}

export function floorTo(ms: number, stepMs: number): number {
  return Math.floor(ms / stepMs) * stepMs;
}
