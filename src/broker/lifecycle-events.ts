/**
 * Device lifecycle events: when a device's session starts or ends, the
 * gateway publishes a small JSON message to its tenant on
 * tenants/{tenant}/events/{device}/{connected|disconnected}, delivered only to
 * the tenant's apps granted `events` (authorizeForward). Devices cannot
 * publish there (their topics are tenants/{t}/devices/{d}/...). The message
 * names the device, the time and, for a disconnection, why; never the
 * address it came from (personal data the apps do not need), never anything
 * it sent. A device whose processing is restricted (GDPR Art. 18) gets no
 * events. Not retained, not stored: an app that was away catches up from
 * storage, not from here.
 */
import type { Aedes, Client } from 'aedes';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { stateOf, type ClientState } from './client-state.ts';
import { GuardedSocket } from './guarded-socket.ts';
import type { GatewayStats } from './stats.ts';
import { eventTopic, type LifecycleEvent } from './topics.ts';

export interface LifecycleDeps {
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly now: () => number;
  readonly restriction: (tenantId: string, deviceId: string) => 'none' | 'drop' | 'refuse';
  /** The gateway is closing: sessions end because it does, and no app is left to tell. */
  readonly closing: () => boolean;
}

/** Why a session ended, as the disconnected event says it. */
export type DisconnectReason =
  | 'client-disconnect' | 'keepalive-timeout' | 'takeover' | 'revoked' | 'expired' | 'restricted'
  | 'not-authorized' | 'slow-consumer' | 'refused' | 'protocol-error' | 'connection-lost';

const WITHDRAWN: Partial<Record<ErrorCode, DisconnectReason>> = {
  TIQ_ERR_CERT_REVOKED: 'revoked', TIQ_ERR_CERT_EXPIRED: 'expired', TIQ_ERR_RESTRICTED: 'restricted', TIQ_ERR_NOT_AUTHORIZED: 'not-authorized',
};

export function disconnectReason(client: Client, state: ClientState): { reason: DisconnectReason; code?: ErrorCode } {
  if (state.withdrawn) return { reason: WITHDRAWN[state.withdrawn] ?? 'not-authorized', code: state.withdrawn };
  if (state.takenOver) return { reason: 'takeover' };
  // aedes sets this on a DISCONNECT packet [MQTT-3.14.4-3].
  if ((client as unknown as { _disconnected?: boolean })._disconnected) return { reason: 'client-disconnect' };
  if (state.closedWith) return { reason: 'refused', code: state.closedWith };
  const violation = client.conn instanceof GuardedSocket ? client.conn.closedFor : undefined;
  if (violation === 'TIQ_ERR_KEEPALIVE') return { reason: 'keepalive-timeout', code: violation };
  if (violation === 'TIQ_ERR_SLOW_CONSUMER') return { reason: 'slow-consumer', code: violation };
  if (violation) return { reason: 'protocol-error', code: violation };
  return { reason: 'connection-lost' };
}

/** Marks the session a new CONNECT of the same session id is about to take over. */
export function noteTakeover(client: Client): void {
  const clients = (client as unknown as { broker?: { clients?: Record<string, Client> } }).broker?.clients;
  const previous = clients?.[client.id];
  const state = previous && previous !== client ? stateOf(previous) : undefined;
  if (state) state.takenOver = true;
}

export function watchLifecycle(broker: Aedes, deps: LifecycleDeps): void {
  const publish = (client: Client, event: LifecycleEvent): void => {
    const state = stateOf(client);
    const id = state?.peer.identity;
    if (!state || id?.kind !== 'device' || deps.closing()) return;
    if (deps.restriction(id.tenantId, id.deviceId) !== 'none') return;
    const why = event === 'disconnected' ? disconnectReason(client, state) : undefined;
    const body = { device: id.deviceId, event, time: new Date(deps.now()).toISOString(), ...(why ?? {}) };
    deps.stats.deviceEvent(event, why?.reason ?? 'connect');
    broker.publish({ cmd: 'publish', topic: eventTopic(id.tenantId, id.deviceId, event), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false }, (err) => {
      if (err) deps.log.warn({ event: 'lifecycle_event_failed', tenantId: id.tenantId, lifecycle: event, reason: err.message }, 'lifecycle event not published');
    });
  };
  broker.on('clientReady', (client: Client) => publish(client, 'connected'));
  broker.on('clientDisconnect', (client: Client) => publish(client, 'disconnected'));
}
