/**
 * aedes reports what it refuses on its own (timeouts, protocol errors,
 * mqtt-packet parse errors, topic checks that run before our hooks) as
 * plain Errors on 'clientError' and 'connectionError'. They are mapped here
 * to stable codes, so each still gets one log line and one counter.
 * TiqErrors were logged where they were raised; socket resets are not
 * refusals.
 */
import type { Aedes, Client } from 'aedes';
import { TiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import { peerOf } from './client-state.ts';
import type { GatewayStats } from './stats.ts';

const RULES: readonly [RegExp, ErrorCode][] = [
  [/^connect did not arrive in time/, 'TIQ_ERR_CONNECT_TIMEOUT'],
  [/^keep ?alive (timeout|limit exceeded)/i, 'TIQ_ERR_KEEPALIVE'],
  [/^keepalive out of bounds/, 'TIQ_ERR_KEEPALIVE'],
  [/^malformed client id/, 'TIQ_ERR_MALFORMED_PACKET'],
  [/^topic has too many levels/, 'TIQ_ERR_TOPIC_TOO_LONG'],
  [/(#|\+) is not allowed in PUBLISH|^empty topic/, 'TIQ_ERR_TOPIC_DENIED'],
  [/^Invalid protocol$|^Client queue limit reached/, 'TIQ_ERR_PROTOCOL_VIOLATION'],
  // aedes 2, MQTT 5 only (docs/mqtt5.md): what it refuses itself, before the gateway's hooks.
  [/^(unknown )?topic alias|^invalid subscription identifier|^cannot set a non-zero Session Expiry/, 'TIQ_ERR_PROTOCOL_VIOLATION'],
  [/^wildcard is not allowed in Response Topic/, 'TIQ_ERR_MALFORMED_PACKET'],
  [/^packet too large/, 'TIQ_ERR_PACKET_TOO_LARGE'],
  [/^(Invalid|Malformed|Packet too short|Cannot parse|Not supported|Unknown)/i, 'TIQ_ERR_MALFORMED_PACKET'],
];

/** Errors raised by the preConnect guards: already logged and counted there. */
const ALREADY_REPORTED = /^(keepalive out of bounds|malformed client id)/;

export function classifyConnectionError(err: Error): ErrorCode | undefined {
  if (err instanceof TiqError) return undefined;
  for (const [pattern, code] of RULES) if (pattern.test(err.message)) return code;
  return undefined;
}

export function watchConnectionErrors(broker: Aedes, log: Logger, stats: GatewayStats): void {
  const report = (client: Client, err: Error) => {
    const code = classifyConnectionError(err);
    const peer = client.conn ? peerOf(client.conn) : undefined;
    const identity = peer ? describeIdentity(peer.identity) : 'unknown';
    if (!code || ALREADY_REPORTED.test(err.message)) {
      log.debug({ event: 'client_error', identity, reason: err.message.slice(0, 200) }, 'client error');
      return;
    }
    stats.refused(code);
    log.warn({ event: 'connection_closed', code, identity, reason: err.message.slice(0, 200) }, 'connection closed');
  };
  broker.on('clientError', report);
  broker.on('connectionError', report);
}
