/**
 * The ingest pipeline, in the order docs/architecture.md fixes ("The path of one
 * message"). TLS and authorization happen before it, in the broker; the
 * acknowledgement and fan-out after it, when the broker's authorizePublish
 * callback fires. This list is the only place the order is written.
 */
import type { PipelineContext } from './context.ts';
import type { IngestMessage, StageResult } from '../records/message.ts';
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

/** Receives the duration of one stage of a sampled message (see runPipeline's `timed`). */
export type StageObserver = (stage: string, seconds: number) => void;

/**
 * Walks the stages. Stays synchronous while stages are (no promise per
 * message on the hot path); a thrown TiqError is the refusal. With an
 * observer, each stage's duration is reported (the broker samples a share of
 * messages, so timing costs nothing on the others).
 */
export function runPipeline(
  msg: IngestMessage, ctx: PipelineContext, stages: readonly Stage[] = INGEST_STAGES, from = 0, observe?: StageObserver,
): StageResult | Promise<StageResult> {
  for (let i = from; i < stages.length; i++) {
    const stage = stages[i]!;
    const t0 = observe ? performance.now() : 0;
    const result = stage(msg, ctx);
    if (result instanceof Promise) {
      // The last stage's own promise is the pipeline's result: no second promise per message (the store stage).
      if (!observe && i === stages.length - 1) return result;
      return result.then((r) => {
        observe?.(stage.name, (performance.now() - t0) / 1000);
        return r.kind === 'drop' ? r : runPipeline(msg, ctx, stages, i + 1, observe);
      });
    }
    observe?.(stage.name, (performance.now() - t0) / 1000);
    if (result.kind === 'drop') return result;
  }
  return { kind: 'continue' };
}
