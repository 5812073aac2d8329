/**
 * The one error type of the gateway and its catalogue of stable codes.
 *
 * Every refusal the gateway makes carries one of these codes: in logs, in
 * metrics, in HTTP responses and in the README. Tests assert codes, never
 * message text. `retryable` tells a caller whether trying again can help
 * (a device whose message was refused for a KMS outage should resend; one
 * whose message failed to decode should not).
 */

/** What a refusal becomes at the MQTT edge (MQTT 3.1.1 has no negative PUBACK). */
export type MqttOutcome =
  | 'connack-refused' // CONNACK with a return code, then close
  | 'suback-failure' // SUBACK 0x80 for that filter [MQTT-3.9.3-2]
  | 'disconnect' // close the network connection
  | 'not-acknowledged' // no PUBACK: the device resends later
  | 'acknowledged-dropped' // PUBACK, nothing stored or forwarded
  | 'acknowledged-refused' // PUBACK (a resend would fail again), nothing stored or forwarded; mqtt.maxRefusalsBeforeDisconnect of them close the connection
  | 'tls-refused' // the connection never reaches MQTT
  | 'none'; // not an MQTT-path error

interface CodeSpec {
  readonly message: string;
  readonly retryable: boolean;
  readonly mqtt: MqttOutcome;
  readonly httpStatus: number;
}

function spec(message: string, retryable: boolean, mqtt: MqttOutcome, httpStatus: number): CodeSpec {
  return { message, retryable, mqtt, httpStatus };
}

export const ERROR_CATALOGUE = {
  // Connection and identity
  TIQ_ERR_TLS_HANDSHAKE: spec('TLS handshake failed (untrusted CA, expired or not-yet-valid certificate, or none)', false, 'tls-refused', 401),
  TIQ_ERR_CERT_USAGE: spec('client certificate lacks the clientAuth extended key usage', false, 'tls-refused', 401),
  TIQ_ERR_CERT_EXPIRED: spec('client certificate is expired or not yet valid (checked on resumed TLS sessions too); a live session is closed when it expires', false, 'tls-refused', 401),
  TIQ_ERR_CERT_REVOKED: spec('client certificate has been revoked', false, 'tls-refused', 401),
  TIQ_ERR_IDENTITY: spec('certificate carries no valid ThingIQ identity', false, 'tls-refused', 401),
  TIQ_ERR_PROXY_PROTOCOL: spec('with mqtt.proxyProtocol: the connection did not start with a valid PROXY protocol v2 header in time, or came from outside mqtt.proxyProtocolFrom', false, 'tls-refused', 400),
  TIQ_ERR_INVALID_ID: spec('id must match ^[a-z0-9][a-z0-9-]{0,62}$', false, 'connack-refused', 400),
  TIQ_ERR_CLIENT_ID: spec('MQTT client id must equal the device id of the certificate', false, 'connack-refused', 400),
  TIQ_ERR_TENANT_UNKNOWN: spec('tenant is not configured or not active', false, 'connack-refused', 404),
  TIQ_ERR_NOT_AUTHORIZED: spec('identity may not connect: it may not use MQTT, or its app or tenant is no longer configured', false, 'connack-refused', 403),
  TIQ_ERR_RESTRICTED: spec('processing of this device is restricted (GDPR Art. 18)', false, 'acknowledged-dropped', 409),

  // Topics
  TIQ_ERR_TOPIC_DENIED: spec('publish outside the identity\'s own topics', false, 'disconnect', 403),
  TIQ_ERR_STREAM_UNKNOWN: spec('stream is not configured for this tenant', false, 'disconnect', 404),
  TIQ_ERR_SUBSCRIBE_DENIED: spec('subscription filter outside the caller\'s grants', false, 'suback-failure', 403),
  TIQ_ERR_WILL_DENIED: spec('will topic or payload refused', false, 'connack-refused', 403),

  // Payloads
  TIQ_ERR_PAYLOAD_TOO_LARGE: spec('payload exceeds the stream\'s size limit', false, 'acknowledged-refused', 413),
  TIQ_ERR_DECODE: spec('payload is not a valid message for this stream', false, 'acknowledged-refused', 400),
  TIQ_ERR_VALIDATION: spec('message fields out of range', false, 'acknowledged-refused', 422),
  TIQ_ERR_QOS_UNSUPPORTED: spec('QoS 2 is not accepted; use QoS 0 or 1', false, 'disconnect', 400),

  // Privacy
  TIQ_ERR_POLICY_INVALID: spec('privacy policy is invalid', false, 'none', 422),
  TIQ_ERR_POLICY_DROPPED: spec('privacy policy dropped the message', false, 'acknowledged-dropped', 200),

  // Keys and encryption
  TIQ_ERR_KEY_UNAVAILABLE: spec('no data key can be obtained right now', true, 'not-acknowledged', 503),
  TIQ_ERR_KEYRING_SEALED: spec('keyring cannot be unsealed with the configured root key', true, 'not-acknowledged', 503),
  TIQ_ERR_DECRYPT: spec('record failed authentication on decrypt', false, 'none', 500),
  TIQ_ERR_KEY_SHREDDED: spec('record key has been destroyed (crypto-shredded)', false, 'none', 410),

  // Storage
  TIQ_ERR_STORE_UNAVAILABLE: spec('storage sink is unavailable', true, 'not-acknowledged', 503),
  TIQ_ERR_CONTROL_STORE: spec('control store (operator state and its change feed) is unavailable', true, 'none', 503),

  // Operations
  TIQ_ERR_CONFIG: spec('configuration is invalid', false, 'none', 500),
  TIQ_ERR_PKI: spec('certificate authority operation failed', false, 'none', 500),
  TIQ_ERR_CSR_INVALID: spec('certificate signing request is not one PEM PKCS#10 request, or its signature does not verify with its own key (no proof of possession), or uses a hash weaker than SHA-256', false, 'none', 400),
  TIQ_ERR_CSR_KEY: spec('certificate signing request key not allowed: ECDSA P-256, or RSA of 2048 to 8192 bits', false, 'none', 400),
  TIQ_ERR_LISTEN: spec('cannot open listener', false, 'none', 500),
  TIQ_ERR_SHUTTING_DOWN: spec('gateway is shutting down', true, 'not-acknowledged', 503),
  TIQ_ERR_DATA_DIR_LOCKED: spec('another process (a gateway, or a command working offline) holds this data directory', true, 'none', 409),
  TIQ_ERR_INTERNAL: spec('internal error', true, 'not-acknowledged', 500),
  TIQ_ERR_USAGE: spec('invalid command line: a missing, unknown or invalid option or argument, or an irreversible action without --yes', false, 'none', 400),
  TIQ_ERR_UNREACHABLE: spec('the gateway cannot be reached (connection refused or reset, unknown host, timeout)', true, 'none', 503),

  // Admin API (docs/admin.md)
  TIQ_ERR_UNAUTHENTICATED: spec('no credentials: present an operator or app certificate (mTLS listener) or a bearer token', false, 'connack-refused', 401),
  TIQ_ERR_TOKEN_INVALID: spec('bearer token refused (signature, issuer, audience, expiry or claims); a session over WebSocket is closed at its exp', false, 'connack-refused', 401),
  TIQ_ERR_MFA_REQUIRED: spec('this role needs a token issued after multi-factor authentication (amr)', false, 'connack-refused', 401),
  TIQ_ERR_FORBIDDEN: spec('the caller\'s role may not do this', false, 'connack-refused', 403),
  TIQ_ERR_SESSION_EXPIRED: spec('the console session ended (signed out, idle or absolute timeout): sign in again', false, 'none', 401),
  TIQ_ERR_SIGN_IN_LINK: spec('the sign-in link is unknown, used already or expired (links are single-use, valid 60 s)', false, 'none', 401),
  TIQ_ERR_CSRF: spec('a state change from the console without its CSRF token or from another origin', false, 'none', 403),
  TIQ_ERR_OAUTH: spec('the OAuth sign-in failed (state, code exchange or issuer answer)', false, 'none', 401),
  TIQ_ERR_NOT_FOUND: spec('no such object', false, 'none', 404),
  TIQ_ERR_BAD_REQUEST: spec('request is malformed or fails validation', false, 'none', 400),
  TIQ_ERR_LEGAL_HOLD: spec('a legal hold covers this data; release it before erasure', false, 'none', 409),
  TIQ_ERR_CONFLICT: spec('conflicts with what exists: the object is still referenced, or already exists', false, 'none', 409),
  TIQ_ERR_BODY_TOO_LARGE: spec('request body larger than admin.bodyLimitBytes', false, 'none', 413),
  TIQ_ERR_GROUP_LIMIT: spec('too many device groups in the tenant (admin.maxDeviceGroups) or devices in the group (admin.maxGroupDevices)', false, 'none', 422),
  TIQ_ERR_AUDIT: spec('audit log cannot be written or is corrupt', true, 'not-acknowledged', 503),
  TIQ_ERR_AUDIT_HEAD: spec('audit log holds fewer or other entries than the head recorded in the control store (truncated, emptied, deleted or re-chained)', false, 'none', 503),

  // Fleet provisioning by claim (docs/SECURITY.md)
  TIQ_ERR_CLAIM_REVOKED: spec('provisioning claim has been revoked', false, 'none', 403),
  TIQ_ERR_CLAIM_EXPIRED: spec('provisioning claim has expired', false, 'none', 403),
  TIQ_ERR_CLAIM_EXHAUSTED: spec('provisioning claim has registered as many devices as its template allows', false, 'none', 409),
  TIQ_ERR_CLAIM_DEVICE_ID: spec('device id does not match the provisioning claim\'s device id pattern', false, 'none', 403),
  TIQ_ERR_CLAIM_TENANT: spec('provisioning claim belongs to another tenant', false, 'none', 403),

  // Backup and restore
  TIQ_ERR_BACKUP_CORRUPT: spec('backup file is damaged, truncated, reordered or not a ThingIQ backup: a frame fails authentication, a file its manifest digest, a database its integrity check, or the audit log its chain', false, 'none', 422),
  TIQ_ERR_BACKUP_KEY: spec('the backup key cannot be unwrapped with this key store (another root key or KMS key, or none configured)', false, 'none', 422),
  TIQ_ERR_DATA_DIR_NOT_EMPTY: spec('the data directory to restore into is not empty; restore over it only with --force', false, 'none', 409),

  // Abuse limits (docs/SECURITY.md)
  TIQ_ERR_PACKET_TOO_LARGE: spec('MQTT packet announces more than limits.maxPacketBytes', false, 'disconnect', 413),
  TIQ_ERR_MALFORMED_PACKET: spec('malformed MQTT packet (fixed header, reserved flags, remaining length, UTF-8 or NUL in a string)', false, 'disconnect', 400),
  TIQ_ERR_PROTOCOL_VIOLATION: spec('MQTT packet out of order (not CONNECT first, or a second CONNECT)', false, 'disconnect', 400),
  TIQ_ERR_TOPIC_TOO_LONG: spec('topic or filter longer than limits.maxTopicLength or deeper than limits.maxTopicLevels', false, 'disconnect', 414),
  TIQ_ERR_TOO_MANY_PENDING: spec('too many publishes waiting for acknowledgement on one connection', true, 'disconnect', 429),
  TIQ_ERR_RATE_LIMITED: spec('device publishes faster than its rate limit', true, 'disconnect', 429),
  TIQ_ERR_QUOTA: spec('tenant message or byte quota exceeded', true, 'disconnect', 429),
  TIQ_ERR_CONNECTION_LIMIT: spec('too many connections for this tenant or source address', true, 'connack-refused', 429),
  TIQ_ERR_FLAPPING: spec('identity reconnects too often; refused for a back-off period', true, 'connack-refused', 429),
  TIQ_ERR_CONNECT_TIMEOUT: spec('CONNECT did not arrive in time after the TLS handshake', false, 'disconnect', 408),
  TIQ_ERR_SLOW_CONSUMER: spec('client did not read what was sent to it: more than limits.maxOutboundBufferBytes unread, or not drained within limits.drainTimeoutMs', true, 'disconnect', 503),
  TIQ_ERR_KEEPALIVE: spec('keepalive outside the allowed bounds, or the client went silent past 1.5 times its keepalive', false, 'disconnect', 400),
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class TiqError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly mqtt: MqttOutcome;
  readonly httpStatus: number;
  /** Structured, payload-free detail safe to log (field names, limits, never values). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, detail?: string | Record<string, unknown>, options?: { cause?: unknown }) {
    const entry = ERROR_CATALOGUE[code];
    const suffix = typeof detail === 'string' ? `: ${detail}` : '';
    super(`${code}: ${entry.message}${suffix}`, options);
    this.name = 'TiqError';
    this.code = code;
    this.retryable = entry.retryable;
    this.mqtt = entry.mqtt;
    this.httpStatus = entry.httpStatus;
    this.detail = typeof detail === 'object' ? detail : undefined;
  }
}

export function isTiqError(err: unknown): err is TiqError {
  return err instanceof TiqError;
}

/** Wraps anything thrown into a TiqError, keeping a TiqError as it is. */
export function toTiqError(err: unknown, fallback: ErrorCode = 'TIQ_ERR_INTERNAL'): TiqError {
  if (err instanceof TiqError) return err;
  return new TiqError(fallback, undefined, { cause: err });
}

/**
 * What a refusal becomes for an MQTT 5 client: the packet that carries it
 * and its reason code (MQTT 5 §2.4; PUBACK §3.4.2.1, SUBACK §3.9.3,
 * CONNACK §3.2.2.2, DISCONNECT §3.14.2.1). The reason string sent with it is
 * the code's name, never detail. 'close' is a connection closed before or
 * without a DISCONNECT (no CONNACK yet, or a peer that does not read).
 */
export interface Mqtt5Outcome {
  readonly packet: 'puback' | 'suback' | 'connack' | 'disconnect' | 'close' | 'tls-refused';
  readonly reasonCode: number;
}

const v5 = (packet: Mqtt5Outcome['packet'], reasonCode = 0): Mqtt5Outcome => ({ packet, reasonCode });

/**
 * One entry per code whose `mqtt` outcome is not 'none'. Retryable failures
 * (keys, storage, audit) are DISCONNECT 0x89 "Server busy", never a PUBACK:
 * an error PUBACK ends the message's flow in MQTT 5 (§4.3.2), so the device
 * would have to resend by itself; without PUBACK its session resends it as
 * with MQTT 3.1.1. CONNACK codes are aedes's mapping of the 3.1.1 return
 * codes (2 → 0x85, 3 → 0x88, 5 → 0x87): aedes 2 offers no other.
 */
export const MQTT5_OUTCOMES: { readonly [C in ErrorCode]?: Mqtt5Outcome } = {
  TIQ_ERR_TLS_HANDSHAKE: v5('tls-refused'),
  TIQ_ERR_CERT_USAGE: v5('tls-refused'),
  TIQ_ERR_CERT_EXPIRED: v5('tls-refused'),
  TIQ_ERR_CERT_REVOKED: v5('tls-refused'),
  TIQ_ERR_IDENTITY: v5('tls-refused'),
  TIQ_ERR_PROXY_PROTOCOL: v5('tls-refused'),
  TIQ_ERR_INVALID_ID: v5('connack', 0x85),
  TIQ_ERR_CLIENT_ID: v5('connack', 0x85),
  TIQ_ERR_TENANT_UNKNOWN: v5('connack', 0x87),
  TIQ_ERR_NOT_AUTHORIZED: v5('connack', 0x87),
  TIQ_ERR_RESTRICTED: v5('puback', 0x00),
  TIQ_ERR_TOPIC_DENIED: v5('puback', 0x87),
  TIQ_ERR_STREAM_UNKNOWN: v5('puback', 0x90),
  TIQ_ERR_SUBSCRIBE_DENIED: v5('suback', 0x87),
  TIQ_ERR_WILL_DENIED: v5('connack', 0x87),
  // MQTT over WebSocket with a bearer token: CONNACK 4 / 5 at 3.1.1 (token-session.ts) map to 0x86 / 0x87.
  TIQ_ERR_UNAUTHENTICATED: v5('connack', 0x86),
  TIQ_ERR_TOKEN_INVALID: v5('connack', 0x86),
  TIQ_ERR_MFA_REQUIRED: v5('connack', 0x87),
  TIQ_ERR_FORBIDDEN: v5('connack', 0x87),
  TIQ_ERR_PAYLOAD_TOO_LARGE: v5('puback', 0x83),
  TIQ_ERR_DECODE: v5('puback', 0x99),
  TIQ_ERR_VALIDATION: v5('puback', 0x99),
  TIQ_ERR_QOS_UNSUPPORTED: v5('disconnect', 0x9b),
  TIQ_ERR_POLICY_DROPPED: v5('puback', 0x00),
  TIQ_ERR_KEY_UNAVAILABLE: v5('disconnect', 0x89),
  TIQ_ERR_KEYRING_SEALED: v5('disconnect', 0x89),
  TIQ_ERR_STORE_UNAVAILABLE: v5('disconnect', 0x89),
  TIQ_ERR_SHUTTING_DOWN: v5('disconnect', 0x8b),
  TIQ_ERR_INTERNAL: v5('disconnect', 0x80),
  TIQ_ERR_AUDIT: v5('disconnect', 0x89),
  TIQ_ERR_PACKET_TOO_LARGE: v5('disconnect', 0x95),
  TIQ_ERR_MALFORMED_PACKET: v5('disconnect', 0x81),
  TIQ_ERR_PROTOCOL_VIOLATION: v5('disconnect', 0x82),
  TIQ_ERR_TOPIC_TOO_LONG: v5('puback', 0x90),
  TIQ_ERR_TOO_MANY_PENDING: v5('disconnect', 0x93),
  TIQ_ERR_RATE_LIMITED: v5('puback', 0x97),
  TIQ_ERR_QUOTA: v5('puback', 0x97),
  TIQ_ERR_CONNECTION_LIMIT: v5('connack', 0x88),
  TIQ_ERR_FLAPPING: v5('connack', 0x88),
  TIQ_ERR_CONNECT_TIMEOUT: v5('close'),
  TIQ_ERR_SLOW_CONSUMER: v5('close'),
  TIQ_ERR_KEEPALIVE: v5('disconnect', 0x8d),
};

/** The MQTT 5 outcome of a code; a plain close for a code without one. */
export function mqtt5Outcome(code: ErrorCode): Mqtt5Outcome {
  return MQTT5_OUTCOMES[code] ?? v5('close');
}
