import { VALIDATORS, validateGeneric } from '../../messages/validate.ts';
import type { PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../../records/message.ts';

/** Finite numbers, coordinates in range, a sane device clock, a sequence number. */
export function validateMessage(msg: IngestMessage, ctx: PipelineContext): StageResult {
  const validator = VALIDATORS[msg.messageType] ?? validateGeneric;
  const { deviceTimeMs, sequence } = validator(msg.body!, { nowMs: ctx.now(), maxClockSkewMs: ctx.maxClockSkewMs });
  msg.deviceTimeMs = deviceTimeMs;
  msg.sequence = sequence;
  return CONTINUE;
}
