import type { PipelineContext } from '../context.ts';
import { CONTINUE, DUPLICATE, type IngestMessage, type StageResult } from '../../records/message.ts';

/** One function for every message (no closure per write). */
const toStageResult = (outcome: unknown): StageResult => (outcome === 'duplicate' ? DUPLICATE : CONTINUE);

/**
 * Group-committed durable write; the PUBACK waits for it. Only sealed
 * (encrypted) records are written. A redelivery the sink already holds ends
 * the pipeline as DUPLICATE: acknowledged, not forwarded a second time.
 */
export function storeRecord(msg: IngestMessage, ctx: PipelineContext): StageResult | Promise<StageResult> {
  if (!ctx.writer || !msg.sealed) return CONTINUE;
  return ctx.writer.write(msg.sealed).then(toStageResult);
}
