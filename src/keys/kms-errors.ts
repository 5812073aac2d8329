/**
 * Maps AWS KMS failures onto the gateway's error codes: transient ones
 * (throttling, 5xx, network) are retried within the budget; a ciphertext KMS
 * refuses is a decrypt failure; anything else makes the key unavailable.
 */
import { TiqError } from '../errors.ts';

/** AWS error names that clear up by themselves (KMS API reference, "Common Errors"). */
const TRANSIENT_NAMES = new Set([
  'ThrottlingException', 'ThrottledException', 'TooManyRequestsException', 'RequestLimitExceeded',
  'KMSInternalException', 'DependencyTimeoutException', 'ServiceUnavailable', 'InternalFailure',
  'TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException',
]);
const TRANSIENT_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);
const CIPHERTEXT_NAMES = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

export function isTransientKmsError(err: unknown): boolean {
  const e = (err ?? {}) as AwsLikeError;
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && TRANSIENT_NET_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  return e.$fault === 'server';
}

export function classifyKmsError(operation: string, err: unknown): TiqError {
  if (err instanceof TiqError) return err;
  const name = (err as AwsLikeError | undefined)?.name;
  const errorName = typeof name === 'string' ? name : 'unknown';
  if (CIPHERTEXT_NAMES.has(errorName)) {
    return new TiqError('TIQ_ERR_DECRYPT', { operation, kmsError: errorName }, { cause: err });
  }
  return new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { operation, kmsError: errorName }, { cause: err });
}
