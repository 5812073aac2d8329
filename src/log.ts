/**
 * Structured JSON logs (pino). Redaction is compiled once, at construction:
 * payloads, message bodies, coordinates and key material never reach a log
 * line, whatever a caller passes by mistake.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export const REDACTED_PATHS = [
  'payload', '*.payload', 'body', '*.body', 'plaintext', '*.plaintext',
  'latitude', '*.latitude', 'longitude', '*.longitude', 'location', '*.location',
  'key', '*.key', 'dek', '*.dek', 'kek', '*.kek', 'rootKey', '*.rootKey', 'privateKey', '*.privateKey',
  'password', '*.password', 'authorization', '*.authorization',
];

export type { Logger };

export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'thingiq-gateway' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, destination);
}
