/**
 * Certificate expiry of live sessions. OpenSSL checks notAfter only during
 * the handshake, so a session opened before it would otherwise outlive its
 * certificate for as long as the connection lasts. Each session has one
 * timer, armed when it is accepted and cleared when its connection closes;
 * each publish also checks the clock, so a timer that fires late (busy event
 * loop) never lets a message through after notAfter.
 */
import type { EventEmitter } from 'node:events';
import type { Client } from 'aedes';
import { describeIdentity } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import type { ClientState, PeerInfo } from './client-state.ts';
import type { GatewayStats } from './stats.ts';

/**
 * setTimeout's largest delay (2^31-1 ms, about 24.8 days). A longer one is
 * not clamped to this but to 1 ms, which would close every long-lived
 * certificate's session at once: longer waits are made of several timers.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** RFC 5280 §4.1.2.5: the certificate is valid through notAfter, inclusive. */
export function isExpired(peer: PeerInfo, nowMs: number): boolean {
  return nowMs > peer.notAfterMs;
}

/** The code a lapsed credential is refused or closed with. */
export function expiryCode(peer: PeerInfo): 'TIQ_ERR_CERT_EXPIRED' | 'TIQ_ERR_TOKEN_INVALID' {
  return peer.credential === 'token' ? 'TIQ_ERR_TOKEN_INVALID' : 'TIQ_ERR_CERT_EXPIRED';
}

/** Calls `onExpired` once notAfter has passed, unless `conn` closes first. */
export function watchExpiry(conn: EventEmitter, notAfterMs: number, now: () => number, onExpired: () => void): void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const remaining = notAfterMs - now() + 1;
    if (remaining <= 0) {
      onExpired();
      return;
    }
    timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
    // The connection keeps the process alive, not its expiry timer.
    timer.unref();
  };
  conn.once('close', () => clearTimeout(timer));
  arm();
}

export interface ExpiryDeps {
  readonly log: Logger;
  readonly stats: GatewayStats;
}

/**
 * Ends a session whose certificate expired: nothing still in its pipeline is
 * acknowledged, its will is not delivered, one log line and one count.
 * Idempotent (the timer and a publish may both find the expiry).
 */
export function closeExpiredSession(client: Client, state: ClientState, deps: ExpiryDeps): void {
  const code = expiryCode(state.peer);
  if (state.withdrawn === code) return;
  state.withdrawn = code;
  state.disconnecting = true;
  deps.stats.refused(code);
  const token = state.peer.credential === 'token';
  deps.log.warn({
    event: token ? 'token_expired_disconnect' : 'cert_expired_disconnect', code, identity: describeIdentity(state.peer.identity),
    ...(token ? { reason: 'exp', exp: new Date(state.peer.notAfterMs).toISOString() } : { notAfter: new Date(state.peer.notAfterMs).toISOString() }),
  }, token ? 'session closed: its bearer token expired' : 'session closed: its certificate expired');
  client.close();
}
