/**
 * Retries a remote key operation with exponential backoff and full jitter
 * (AWS Architecture Blog, "Exponential Backoff and Jitter") until it succeeds,
 * fails permanently, or its time budget is spent. Spending the budget yields
 * TIQ_ERR_KEY_UNAVAILABLE, which is retryable: the device is not acknowledged
 * and resends later, so nothing is lost and nothing is stored unencrypted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TiqError } from '../errors.ts';

export interface RetryPolicy {
  readonly budgetMs: number;
  readonly baseMs: number;
  readonly now?: () => number;
}

export interface RetryContext {
  /** Aborts the attempt when the remaining budget runs out. */
  readonly signal: AbortSignal;
  readonly attempt: number;
}

/** Decides whether an error may clear up by itself (throttling, 5xx, network). */
export type TransientTest = (err: unknown) => boolean;

const MAX_BACKOFF_MS = 2_000;
/** Every operation gets at least one attempt this long, even with a zero budget. */
const MIN_ATTEMPT_MS = 1_000;

export async function withBoundedRetry<T>(
  operation: string,
  policy: RetryPolicy,
  isTransient: TransientTest,
  attemptFn: (ctx: RetryContext) => Promise<T>,
): Promise<T> {
  const now = policy.now ?? Date.now;
  const deadline = now() + policy.budgetMs;
  for (let attempt = 1; ; attempt++) {
    const remaining = Math.max(MIN_ATTEMPT_MS, deadline - now());
    try {
      return await attemptFn({ signal: AbortSignal.timeout(remaining), attempt });
    } catch (err) {
      if (!isTransient(err)) throw err;
      const backoff = Math.random() * Math.min(MAX_BACKOFF_MS, policy.baseMs * 2 ** (attempt - 1));
      if (now() + backoff >= deadline) throw unavailable(operation, attempt, err);
      await sleep(backoff);
    }
  }
}

function unavailable(operation: string, attempts: number, cause: unknown): TiqError {
  const lastError = (cause as { name?: unknown })?.name;
  return new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { operation, attempts, lastError: typeof lastError === 'string' ? lastError : 'unknown' }, { cause });
}
