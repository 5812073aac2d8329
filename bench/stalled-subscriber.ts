/**
 * The isolation scenario's misbehaving application: it subscribes to all of
 * its tenant's messages, then stops reading its socket for the whole run.
 * The gateway must neither slow the tenant's publishers for it nor keep it
 * forever (limits.maxOutboundBufferBytes, limits.drainTimeoutMs).
 */
import { createSecureContext } from 'node:tls';
import { openMqtt, type Endpoint } from './mqtt-connection.ts';
import { PACKET_SUBACK, subscribePacket } from './mqtt-wire.ts';

export interface StalledSubscriberSpec {
  readonly endpoint: Endpoint;
  readonly caPem: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly clientId: string;
  readonly topic: string;
}

export interface StalledSubscriberResult {
  /** The broker closed the connection (seen once the client reads again, after the run). */
  readonly disconnectedByBroker: boolean;
}

export interface StalledSubscriber {
  /** Reads again and reports whether the broker had closed the connection. */
  finish(): Promise<StalledSubscriberResult>;
}

export async function stallSubscriber(spec: StalledSubscriberSpec): Promise<StalledSubscriber> {
  const ctx = createSecureContext({ ca: spec.caPem, cert: spec.certPem, key: spec.keyPem });
  const conn = await openMqtt({ endpoint: spec.endpoint, secureContext: ctx, clientId: spec.clientId, keepaliveS: 600 });
  const subacked = new Promise<number>((resolve) => {
    conn.onPacket = (type, _flags, body) => { if (type === PACKET_SUBACK) resolve(body[2] ?? 0x80); };
  });
  conn.socket.write(subscribePacket(spec.topic, 1));
  if (await subacked === 0x80) throw new Error(`subscription to ${spec.topic} refused`);
  // From here on nothing is read: what the broker sends piles up in its send buffer.
  conn.onPacket = () => undefined;
  conn.socket.pause();
  let closed = false;
  conn.socket.on('close', () => { closed = true; });
  conn.socket.on('error', () => undefined);
  return {
    async finish() {
      conn.socket.resume();
      const deadline = performance.now() + 3000;
      while (!closed && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      conn.socket.destroy();
      return { disconnectedByBroker: closed };
    },
  };
}
