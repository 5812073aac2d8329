/**
 * The MQTT-over-mutual-TLS listener. Connections that fail the handshake or
 * carry no acceptable identity never reach MQTT; each refusal is one
 * structured log line with a reason code.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { toTiqError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { attachPeer } from './client-state.ts';
import { identifyPeer, type PeerIdentityContext } from './peer-identity.ts';
import type { GatewayStats } from './stats.ts';

export interface MqttListenerOptions {
  readonly caPems: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
  readonly handshakeTimeoutMs: number;
  readonly identity: PeerIdentityContext;
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly onConnection: (socket: TLSSocket) => void;
}

export function createMqttListener(o: MqttListenerOptions): Server {
  const server = createServer({
    ca: [...o.caPems],
    cert: o.certPem,
    key: o.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    handshakeTimeout: o.handshakeTimeoutMs,
  });
  server.on('secureConnection', (socket) => {
    try {
      attachPeer(socket, identifyPeer(socket, o.identity));
    } catch (err) {
      const e = toTiqError(err, 'TIQ_ERR_IDENTITY');
      o.stats.refused(e.code);
      o.log.warn({ event: 'tls_refused', code: e.code, remoteAddress: socket.remoteAddress }, 'connection refused');
      socket.destroy();
      return;
    }
    o.onConnection(socket);
  });
  server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket) => {
    o.stats.refused('TIQ_ERR_TLS_HANDSHAKE');
    o.log.warn({
      event: 'tls_refused', code: 'TIQ_ERR_TLS_HANDSHAKE', reason: err.reason ?? err.code ?? err.message,
      remoteAddress: socket.remoteAddress,
    }, 'TLS handshake refused');
  });
  return server;
}
