/**
 * The MQTT-over-mutual-TLS listener. Connections over the per-address limit
 * are closed before the handshake; connections that fail the handshake (or
 * do not finish it in time) or carry no acceptable identity never reach
 * MQTT; the rest reach aedes through a GuardedSocket that checks packet
 * framing and size before parsing. Each refusal is one structured log line
 * with a reason code and one counter. Behind a load balancer
 * (`mqtt.proxyProtocol`) a TCP front reads the PROXY protocol header first
 * (proxy-front.ts), so all of this sees the device's address.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer, type Server } from 'node:tls';
import { toTiqError } from '../errors.ts';
import { describeIdentity } from '../identity/identity.ts';
import { FrameScanner } from '../limits/frame-scanner.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../log.ts';
import { attachPeer } from './client-state.ts';
import { GuardedSocket } from './guarded-socket.ts';
import { adoptProxiedAddress, createProxyFront } from './proxy-front.ts';
import { identifyPeer, type PeerIdentityContext } from './peer-identity.ts';
import type { GatewayStats } from './stats.ts';

export interface MqttListenerOptions {
  readonly caPems: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
  readonly identity: PeerIdentityContext;
  readonly limits: AbuseLimits;
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly onConnection: (stream: Duplex) => void;
  /** Behind a load balancer: a PROXY protocol v2 header first on every connection, from these sources (absent: any). */
  readonly proxyProtocol?: { readonly allowFrom: readonly string[] | undefined } | undefined;
  /** TLS session-ticket keys shared by the nodes of a cluster (src/cluster/session-tickets.ts); absent: Node's per-process keys. */
  readonly sessionTickets?: TicketKeySource | undefined;
  /** TCP_NODELAY on accepted sockets (mqtt.tcpNoDelay); absent: on. */
  readonly noDelay?: boolean | undefined;
}

/** Session-ticket keys for TLS servers: options at creation, then attached to the server. */
export interface TicketKeySource {
  tlsOptions(listener: string): { readonly sessionIdContext: string; readonly sessionTimeout: number };
  attach(server: Server): unknown;
}

/** Raw sockets closed for the per-address limit: their handshake errors are not logged twice. */
const refusedSockets = new WeakSet<object>();

/**
 * The server to listen on: the TLS server itself, or (with `proxyProtocol`)
 * the TCP front that reads the PROXY header and hands sockets to it.
 */
export function createMqttListener(o: MqttListenerOptions): NetServer {
  const server = createTlsListener(o);
  if (!o.proxyProtocol) return server;
  return createProxyFront({
    tls: server, allowFrom: o.proxyProtocol.allowFrom, timeoutMs: o.limits.config.tlsHandshakeTimeoutMs, log: o.log, stats: o.stats,
    noDelay: o.noDelay ?? true,
  });
}

function createTlsListener(o: MqttListenerOptions): Server {
  const { limits, log, stats } = o;
  const server = createServer({
    ca: [...o.caPems],
    cert: o.certPem,
    key: o.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    handshakeTimeout: limits.config.tlsHandshakeTimeoutMs,
    noDelay: o.noDelay ?? true,
    ...o.sessionTickets?.tlsOptions('mqtt'),
  });
  o.sessionTickets?.attach(server);
  server.on('connection', (raw: Socket) => {
    const address = raw.remoteAddress ?? '';
    const release = limits.perAddress.acquire(address, limits.config.connections.perAddress);
    if (release) {
      raw.once('close', release);
      return;
    }
    refusedSockets.add(raw);
    stats.refused('TIQ_ERR_CONNECTION_LIMIT');
    log.warn({ event: 'tls_refused', code: 'TIQ_ERR_CONNECTION_LIMIT', scope: 'address', remoteAddress: address, limit: limits.config.connections.perAddress }, 'connection refused');
    raw.destroy();
  });
  server.on('secureConnection', (socket) => {
    adoptProxiedAddress(socket);
    let guarded: GuardedSocket;
    try {
      const peer = identifyPeer(socket, o.identity);
      const { maxReadAheadBytes, maxOutboundBufferBytes, drainTimeoutMs } = limits.config;
      const socketLimits = { readAheadBytes: maxReadAheadBytes, maxOutboundBytes: maxOutboundBufferBytes, drainTimeoutMs };
      guarded = new GuardedSocket(socket, new FrameScanner(limits.config.maxPacketBytes), socketLimits, (v) => {
        stats.refused(v.code);
        const framing = v.code !== 'TIQ_ERR_KEEPALIVE' && v.code !== 'TIQ_ERR_SLOW_CONSUMER';
        log.warn({ event: framing ? 'packet_refused' : 'connection_closed', code: v.code, reason: v.reason, identity: describeIdentity(peer.identity), remoteAddress: peer.remoteAddress },
          framing ? 'connection closed: bad packet framing' : 'connection closed');
      });
      attachPeer(socket, peer);
      attachPeer(guarded, peer);
    } catch (err) {
      const e = toTiqError(err, 'TIQ_ERR_IDENTITY');
      stats.refused(e.code);
      log.warn({ event: 'tls_refused', code: e.code, remoteAddress: socket.remoteAddress }, 'connection refused');
      socket.destroy();
      return;
    }
    o.onConnection(guarded);
  });
  server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket) => {
    const raw = (socket as unknown as { _parent?: object })._parent;
    if (raw && refusedSockets.has(raw)) return;
    adoptProxiedAddress(socket);
    stats.refused('TIQ_ERR_TLS_HANDSHAKE');
    log.warn({
      event: 'tls_refused', code: 'TIQ_ERR_TLS_HANDSHAKE', reason: err.reason ?? err.code ?? err.message,
      remoteAddress: socket.remoteAddress,
    }, 'TLS handshake refused');
    // With a tlsClientError listener Node leaves the socket open: a handshake timeout would not close it.
    socket.destroy();
  });
  return server;
}
