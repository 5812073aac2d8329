/** One MQTT 3.1.1 connection over mutual TLS on a raw node:tls socket, packets split by FrameReader. */
import { connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import { connectPacket, FrameReader, PACKET_CONNACK, type PacketHandler, type WireVersion } from './mqtt-wire.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** Name checked against the server certificate. */
  readonly servername: string;
}

export interface OpenOptions {
  readonly endpoint: Endpoint;
  readonly secureContext: SecureContext;
  readonly clientId: string;
  readonly keepaliveS: number;
  /** MQTT protocol level: 4 (3.1.1, the default) or 5. */
  readonly protocolVersion?: WireVersion | undefined;
  /** A TLS session from an earlier connection, to resume it. */
  readonly session?: Buffer | undefined;
  readonly timeoutMs?: number;
}

export interface MqttConnection {
  readonly socket: TLSSocket;
  /** Replaced by the caller after CONNACK to receive the other packets. */
  onPacket: PacketHandler;
  /** The latest TLS session (ticket) the server sent, for resumption. */
  session: Buffer | undefined;
  readonly resumed: boolean;
}

/** Opens TLS, sends CONNECT, resolves on CONNACK 0 (rejects on refusal, close or timeout). */
export function openMqtt(o: OpenOptions): Promise<MqttConnection> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: o.endpoint.host, port: o.endpoint.port, servername: o.endpoint.servername,
      secureContext: o.secureContext, session: o.session,
    });
    socket.setNoDelay(true);
    const conn: { -readonly [K in keyof MqttConnection]: MqttConnection[K] } = {
      socket, onPacket: () => undefined, session: undefined, resumed: false,
    };
    const timer = setTimeout(() => fail(new Error(`${o.clientId}: no CONNACK within ${o.timeoutMs ?? 15_000} ms`)), o.timeoutMs ?? 15_000);
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.on('session', (s: Buffer) => { conn.session = s; });
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`${o.clientId}: closed before CONNACK`)));
    socket.once('secureConnect', () => {
      conn.resumed = socket.isSessionReused();
      socket.write(connectPacket(o.clientId, o.keepaliveS, o.protocolVersion ?? 4));
    });
    const reader = new FrameReader((type, flags, body) => conn.onPacket(type, flags, body));
    conn.onPacket = (type, _flags, body) => {
      if (type !== PACKET_CONNACK) return;
      clearTimeout(timer);
      socket.removeAllListeners('close');
      socket.removeListener('error', fail);
      socket.on('error', () => undefined);
      const rc = body[1] ?? 255;
      if (rc !== 0) { fail(new Error(`${o.clientId}: CONNACK return code ${rc}`)); return; }
      resolve(conn);
    };
    socket.on('data', (d: Buffer) => reader.push(d));
  });
}

/** Runs `task` over `items` with at most `limit` at a time. */
export async function withConcurrency<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
