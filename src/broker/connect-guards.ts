/**
 * Checks on a new MQTT session before it is accepted: keepalive bounds and
 * well-formed client id (preConnect, before aedes does anything with the
 * CONNECT), flapping and the tenant's connection limit (in authenticate,
 * once the identity is known). Each refusal: one log line, one counter, a
 * stable code.
 */
import type { Client, ConnectPacket } from 'aedes';
import type { ErrorCode } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../log.ts';
import { isWellFormedMqttString } from './mqtt-strings.ts';
import { peerOf } from './client-state.ts';
import { GuardedSocket } from './guarded-socket.ts';
import type { GatewayStats } from './stats.ts';

export interface ConnectGuardDeps {
  readonly limits: AbuseLimits;
  /** Largest keepalive, seconds (mqtt.keepaliveLimitS; 0 = none). */
  readonly keepaliveLimitS: number;
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly now: () => number;
}

export function createConnectGuards(deps: ConnectGuardDeps) {
  const { limits, log, stats } = deps;

  function refuse(code: ErrorCode, fields: Record<string, unknown>): void {
    stats.refused(code);
    log.warn({ event: 'connect_refused', code, ...fields }, 'connection refused');
  }

  /** aedes preConnect: runs on the parsed CONNECT before any session work. */
  function preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
    const identity = describeConnection(client);
    const k = packet.keepalive ?? 0;
    const { minKeepaliveS } = limits.config;
    if (k < minKeepaliveS || (deps.keepaliveLimitS > 0 && (k === 0 || k > deps.keepaliveLimitS))) {
      refuse('TIQ_ERR_KEEPALIVE', { identity, keepalive: k, min: minKeepaliveS, max: deps.keepaliveLimitS });
      return done(new Error('keepalive out of bounds'), false);
    }
    if (!isWellFormedMqttString(packet.clientId ?? '')) {
      refuse('TIQ_ERR_MALFORMED_PACKET', { identity, reason: 'client id with NUL or invalid UTF-8' });
      return done(new Error('malformed client id'), false);
    }
    if (client.conn instanceof GuardedSocket) {
      // The guarded socket keeps the keepalive (it can tell our backpressure from a silent client); aedes arms none.
      client.conn.startKeepalive(k);
      packet.keepalive = 0;
    }
    done(null, true);
  }

  /** Every CONNECT of an identity counts, refused or not: a device stuck in a reconnect loop is held off. */
  function checkFlapping(id: Identity, clientId: string): ErrorCode | undefined {
    // Apps and operators may hold several sessions (one per client id); each is tracked on its own.
    const key = id.kind === 'device' ? describeIdentity(id) : `${describeIdentity(id)} ${clientId.slice(0, 64)}`;
    const flap = limits.flaps.attempt(key, deps.now());
    if (flap.ok) return undefined;
    refuse('TIQ_ERR_FLAPPING', { identity: describeIdentity(id), retryAfterMs: flap.retryAfterMs, offences: flap.offences });
    return 'TIQ_ERR_FLAPPING';
  }

  /** Takes a place among the tenant's connections, given back when the connection closes. */
  function acquireTenantPlace(client: Client, id: Identity): ErrorCode | undefined {
    if (id.kind === 'operator') return undefined;
    const limit = limits.quotasOf(id.tenantId).maxConnections;
    const release = limits.perTenant.acquire(id.tenantId, limit);
    if (!release) {
      refuse('TIQ_ERR_CONNECTION_LIMIT', { identity: describeIdentity(id), limit, scope: 'tenant' });
      return 'TIQ_ERR_CONNECTION_LIMIT';
    }
    client.conn.once('close', release);
    if (client.conn.destroyed) release();
    return undefined;
  }

  return { preConnect, checkFlapping, acquireTenantPlace };
}

function describeConnection(client: Client): string {
  const peer = peerOf(client.conn);
  return peer ? describeIdentity(peer.identity) : 'unknown';
}
