import type { PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../message.ts';

/** Group-committed durable write; the PUBACK waits for it. Only sealed (encrypted) records are written. */
export function storeRecord(msg: IngestMessage, ctx: PipelineContext): StageResult | Promise<StageResult> {
  if (!ctx.writer || !msg.sealed) return CONTINUE;
  return ctx.writer.write(msg.sealed).then((outcome) => {
    if (outcome === 'duplicate') ctx.onDuplicate?.(msg.tenantId, msg.stream);
    return CONTINUE;
  });
}
