/**
 * The ingest pipeline, in the order ARCHITECTURE.md fixes ("The path of one
 * message"). TLS and authorization happen before it, in the broker; the
 * acknowledgement and fan-out after it, when the broker's authorizePublish
 * callback fires. This list is the only place the order is written.
 */
import type { PipelineContext } from './context.ts';
import type { IngestMessage, StageResult } from './message.ts';
import { decodePayload } from './stages/decode.ts';
import { encryptRecord } from './stages/encrypt.ts';
import { applyPrivacyPolicy } from './stages/privacy.ts';
import { storeRecord } from './stages/store.ts';
import { validateMessage } from './stages/validate.ts';

export type Stage = (msg: IngestMessage, ctx: PipelineContext) => StageResult | Promise<StageResult>;

export const INGEST_STAGES: readonly Stage[] = [
  decodePayload,
  validateMessage,
  applyPrivacyPolicy,
  encryptRecord,
  storeRecord,
];

/**
 * Walks the stages. Stays synchronous while stages are (no promise per
 * message on the hot path); a thrown TiqError is the refusal.
 */
export function runPipeline(
  msg: IngestMessage, ctx: PipelineContext, stages: readonly Stage[] = INGEST_STAGES, from = 0,
): StageResult | Promise<StageResult> {
  for (let i = from; i < stages.length; i++) {
    const result = stages[i]!(msg, ctx);
    if (result instanceof Promise) {
      return result.then((r) => (r.kind === 'drop' ? r : runPipeline(msg, ctx, stages, i + 1)));
    }
    if (result.kind === 'drop') return result;
  }
  return { kind: 'continue' };
}
