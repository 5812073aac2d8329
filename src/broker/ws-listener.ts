/**
 * MQTT over WebSocket over TLS, for tenant applications (MQTT 3.1.1 §6:
 * binary frames, subprotocol `mqtt`). Each WebSocket becomes a byte stream
 * behind the same GuardedSocket as the TLS listener's connections, so packet
 * framing and size, keepalive, slow-consumer and per-address limits are the
 * TLS listener's. Two kinds, on two ports, for the reason the admin API has
 * two (docs/admin.md): `token` asks for no client certificate and the app
 * proves itself at CONNECT with a bearer token (token-session.ts); `mtls`
 * verifies a client certificate of the gateway's CA at the handshake.
 * Only apps may connect through either (hooks: `accepts`).
 */
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { toTiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity } from '../identity/identity.ts';
import { FrameScanner } from '../limits/frame-scanner.ts';
import { attachPeer, type PeerInfo } from './client-state.ts';
import { GuardedSocket, type GuardedTransport } from './guarded-socket.ts';
import type { MqttListenerOptions } from './mqtt-listener.ts';
import { identifyPeer } from './peer-identity.ts';
import { expectToken } from './token-session.ts';

/** The TLS listener's options (the same certificates, identity, limits and hand-off), and which WebSocket port this is. */
export interface WsListenerOptions extends MqttListenerOptions {
  readonly kind: 'token' | 'mtls';
}

/** Subprotocols of MQTT 3.1.1 (`mqtt`) and 3.1 (`mqttv3.1`), in order of preference. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];
/** Largest MQTT fixed header: one byte of type and flags, four of remaining length. */
const FIXED_HEADER_MAX = 5;

const webSocketStreams = new WeakSet<object>();

/** Whether an MQTT connection came through a WebSocket listener. */
export function isWebSocketConnection(stream: object): boolean {
  return webSocketStreams.has(stream);
}

function offeredProtocols(req: IncomingMessage): string[] | undefined {
  const header = req.headers['sec-websocket-protocol'];
  return header === undefined ? undefined : header.split(',').map((p) => p.trim());
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export function createWsListener(o: WsListenerOptions): Server {
  const { limits, log, stats } = o;
  const mtls = o.kind === 'mtls';
  const server = createServer({
    ca: [...o.caPems], cert: o.certPem, key: o.keyPem, minVersion: 'TLSv1.2',
    handshakeTimeout: limits.config.tlsHandshakeTimeoutMs,
    noDelay: o.noDelay ?? true,
    ...(mtls ? { requestCert: true, rejectUnauthorized: true } : { requestCert: false }),
    ...o.sessionTickets?.tlsOptions(`ws-${o.kind}`),
  });
  o.sessionTickets?.attach(server);
  // The upgrade request must arrive as quickly as a TLS CONNECT would.
  server.headersTimeout = limits.config.tlsHandshakeTimeoutMs;
  server.requestTimeout = limits.config.tlsHandshakeTimeoutMs;
  const wss = new WebSocketServer({
    noServer: true,
    // One frame carries at most one largest packet: the TLS listener's limit, checked before anything is buffered.
    maxPayload: limits.config.maxPacketBytes + FIXED_HEADER_MAX,
    perMessageDeflate: false,
    handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  const refused = (code: ErrorCode, fields: Record<string, unknown>, message: string) => {
    stats.refused(code);
    log.warn({ event: 'ws_refused', code, listener: o.kind, ...fields }, message);
  };

  server.on('connection', (raw: Socket) => {
    const address = raw.remoteAddress ?? '';
    // One per-address budget across the TLS and WebSocket listeners (the same AbuseLimits).
    const release = limits.perAddress.acquire(address, limits.config.connections.perAddress);
    if (release) return void raw.once('close', release);
    refused('TIQ_ERR_CONNECTION_LIMIT', { scope: 'address', remoteAddress: address, limit: limits.config.connections.perAddress }, 'connection refused');
    raw.destroy();
  });
  server.on('request', (_req, res) => {
    res.writeHead(426, { connection: 'close', upgrade: 'websocket', 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const remoteAddress = req.socket.remoteAddress ?? '';
    const offered = offeredProtocols(req);
    if (offered && !offered.some((p) => SUBPROTOCOLS.includes(p))) {
      refused('TIQ_ERR_PROTOCOL_VIOLATION', { remoteAddress, reason: 'no mqtt subprotocol offered' }, 'WebSocket upgrade refused');
      return refuseUpgrade(socket, 400, 'Bad Request');
    }
    let peer: PeerInfo | undefined;
    if (mtls) {
      try {
        peer = identifyPeer(req.socket as TLSSocket, o.identity);
      } catch (err) {
        const e = toTiqError(err, 'TIQ_ERR_IDENTITY');
        refused(e.code, { remoteAddress }, 'WebSocket upgrade refused');
        return refuseUpgrade(socket, 401, 'Unauthorized');
      }
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, peer));
  });
  server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket) => {
    refused('TIQ_ERR_TLS_HANDSHAKE', { reason: err.reason ?? err.code ?? err.message, remoteAddress: socket.remoteAddress }, 'TLS handshake refused');
    socket.destroy();
  });

  function accept(ws: WebSocket, req: IncomingMessage, peer: PeerInfo | undefined): void {
    const raw = req.socket;
    const remoteAddress = raw.remoteAddress ?? '';
    const described = peer ? describeIdentity(peer.identity) : 'token';
    ws.on('message', (_data, isBinary) => {
      // [MQTT-6.0.0-1]: control packets travel in binary frames only; anything else closes the connection.
      if (isBinary) return;
      refused('TIQ_ERR_MALFORMED_PACKET', { identity: described, remoteAddress, reason: 'text frame' }, 'connection closed: bad packet framing');
      ws.terminate();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      const code: ErrorCode = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'TIQ_ERR_PACKET_TOO_LARGE' : 'TIQ_ERR_MALFORMED_PACKET';
      refused(code, { identity: described, remoteAddress, reason: err.code ?? 'websocket error' }, 'connection closed: bad packet framing');
    });
    const transport = createWebSocketStream(ws) as GuardedTransport;
    // What the TLS listener's sockets say of themselves, for logs and the traffic meter.
    Object.defineProperties(transport, {
      remoteAddress: { value: remoteAddress },
      bytesRead: { get: () => raw.bytesRead },
      bytesWritten: { get: () => raw.bytesWritten },
    });
    transport.on('error', () => undefined);
    const { maxReadAheadBytes, maxOutboundBufferBytes, drainTimeoutMs } = limits.config;
    const guarded = new GuardedSocket(transport, new FrameScanner(limits.config.maxPacketBytes), {
      readAheadBytes: maxReadAheadBytes, maxOutboundBytes: maxOutboundBufferBytes, drainTimeoutMs,
    }, (v) => {
      stats.refused(v.code);
      log.warn({ event: 'connection_closed', code: v.code, reason: v.reason, identity: described, remoteAddress, listener: o.kind }, 'connection closed');
    });
    webSocketStreams.add(guarded);
    if (peer) attachPeer(guarded, peer);
    else expectToken(guarded, { remoteAddress, authorization: req.headers.authorization });
    o.onConnection(guarded);
  }
  return server;
}
