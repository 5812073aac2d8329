/**
 * SUBACK never grants QoS 2 (docs/SECURITY.md: subscriptions are granted at
 * most QoS 1). aedes writes the SUBACK's granted QoS from the SUBSCRIBE as
 * received, whatever authorizeSubscribe returns, so the request is lowered as
 * the packet leaves the parser, before aedes handles it. [MQTT-3.9.3-1] lets
 * the server grant a lower QoS than requested; the client then knows it
 * gets QoS 1 and a persistent session stores the subscription as granted.
 */
import type { EventEmitter } from 'node:events';
import type { Client } from 'aedes';

interface SubscribeLike {
  readonly cmd: string;
  readonly subscriptions?: { qos: number }[];
}

function lowerRequestedQos(packet: SubscribeLike): void {
  if (packet.cmd !== 'subscribe') return;
  for (const sub of packet.subscriptions ?? []) if (sub.qos > 1) sub.qos = 1;
}

/** Runs ahead of aedes's own listener on the client's mqtt-packet parser (an internal but stable field). */
export function capSubscriptionQos(client: Client): Client {
  const parser = (client as unknown as { _parser?: EventEmitter })._parser;
  parser?.prependListener('packet', lowerRequestedQos);
  return client;
}
