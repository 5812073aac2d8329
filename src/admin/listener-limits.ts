/**
 * Bounds of each admin listener, so that admin clients (or anyone reaching
 * the port) cannot hold the descriptors MQTT devices and /readyz need: a
 * connection cap (Node closes what is over it at once), a TLS handshake
 * timeout, an idle timeout on open sockets, and a time limit on a request's
 * arrival (slowloris).
 */
import type { Server as HttpsServer } from 'node:https';
import type { AdminConfig } from '../config/admin-config.ts';

type ListenerLimits = Pick<AdminConfig, 'maxConnections' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'requestTimeoutMs'>;

/** Options of the listener's createServer. */
export function listenerOptions(config: ListenerLimits): { handshakeTimeout: number; connectionsCheckingInterval: number } {
  // Node checks the request timeouts on this interval (30 s by default): keep it below them.
  return { handshakeTimeout: config.handshakeTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(config.requestTimeoutMs / 2))) };
}

/** `onDrop` is told of each connection closed over the cap. */
export function limitListener(server: HttpsServer, config: ListenerLimits, onDrop: () => void): void {
  server.maxConnections = config.maxConnections;
  server.on('drop', onDrop);
  // Without a 'timeout' listener, Node destroys a socket inactive this long (idle, or stuck mid-request).
  server.setTimeout(config.idleTimeoutMs);
  server.keepAliveTimeout = Math.min(5000, config.idleTimeoutMs);
  server.headersTimeout = config.requestTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
}
