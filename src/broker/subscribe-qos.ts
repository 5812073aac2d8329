/**
 * SUBACK never grants QoS 2 (docs/SECURITY.md: subscriptions are granted at
 * most QoS 1). aedes writes the SUBACK's granted QoS from the SUBSCRIBE as
 * received, whatever authorizeSubscribe returns, so the request is lowered as
 * the packet leaves the parser, before aedes handles it. [MQTT-3.9.3-1] lets
 * the server grant a lower QoS than requested; the client then knows it
 * gets QoS 1 and a persistent session stores the subscription as granted.
 * The same listener renames an MQTT 5 client's `$share/...` filters (see
 * onPacket).
 */
import type { EventEmitter } from 'node:events';
import type { Client } from 'aedes';
import { V5_SHARE_PREFIX } from './topics.ts';

interface SubscribeLike {
  readonly cmd: string;
  readonly subscriptions?: { topic: string; qos: number }[];
  unsubscriptions?: string[];
}

const SHARE = '$share/';

function v5Name(filter: string): string {
  return filter.startsWith(SHARE) ? V5_SHARE_PREFIX + filter.slice(SHARE.length) : filter;
}

function onPacket(client: Client, packet: SubscribeLike): void {
  if (packet.cmd === 'subscribe') {
    for (const sub of packet.subscriptions ?? []) if (sub.qos > 1) sub.qos = 1;
  }
  // MQTT 5 shared subscriptions: aedes 2 refuses `$share/...` from a v5 client with 0x9E before any hook
  // (topics.ts V5_SHARE_PREFIX); under its internal name the gateway's own groups take it, as for 3.1.1.
  if ((client as { version?: number }).version !== 5) return;
  if (packet.cmd === 'subscribe') for (const sub of packet.subscriptions ?? []) sub.topic = v5Name(sub.topic);
  else if (packet.cmd === 'unsubscribe' && packet.unsubscriptions) packet.unsubscriptions = packet.unsubscriptions.map(v5Name);
}

/** Runs ahead of aedes's own listener on the client's mqtt-packet parser (an internal but stable field). */
export function capSubscriptionQos(client: Client): Client {
  const parser = (client as unknown as { _parser?: EventEmitter })._parser;
  parser?.prependListener('packet', (packet: SubscribeLike) => onPacket(client, packet));
  return client;
}
