/**
 * Wiring of MQTT over WebSocket (src/broker/ws-listener.ts): the token
 * listener verifies bearer tokens with the admin API's verification
 * (src/admin/token-auth.ts: issuer, audience, JWKS, roles, tenant claim,
 * MFA), the certificate listener with the TLS listener's peer identity.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:https';
import { createTokenVerifier } from '../admin/token-auth.ts';
import type { MqttListenerOptions } from '../broker/mqtt-listener.ts';
import type { TokenCheck } from '../broker/token-session.ts';
import { createWsListener } from '../broker/ws-listener.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';

/** Bearer tokens of tenant apps: a tenant-scoped role (tenant-reader or tenant-admin); operators' tokens are not for MQTT. */
export function websocketTokenCheck(config: GatewayConfig, baseDir: string): TokenCheck {
  const verify = createTokenVerifier(config.admin.oauth, baseDir);
  const appClaim = config.websocket.appClaim;
  return async (token) => {
    const { principal, claims } = await verify(`Bearer ${token}`);
    if (principal.tenantId === undefined) throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', { reason: 'an operator token: MQTT over WebSocket is for tenant apps' });
    const app = claims[appClaim];
    // `exp` is a required claim of every accepted token (token-auth.ts).
    return { tenantId: principal.tenantId, expiresAtMs: claims.exp! * 1000, appId: typeof app === 'string' ? app : undefined };
  };
}

/** What the TLS listener is built from: the WebSocket listeners share it. */
export type WebSocketListenerParts = MqttListenerOptions;

export interface WebSocketServers {
  readonly token: Server;
  readonly mtls: Server | undefined;
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new TiqError('TIQ_ERR_LISTEN',
      err.code === 'EADDRINUSE' ? `port ${port} is already in use` : `${err.code ?? ''} ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolveListen());
  });
}

/** Starts the token listener and, when a port is set, the certificate listener. */
export async function startWebSocketListeners(config: GatewayConfig['websocket'], parts: WebSocketListenerParts,
  ports: { token?: number | undefined; mtls?: number | undefined }): Promise<WebSocketServers> {
  const token = createWsListener({ ...parts, kind: 'token' });
  await listenOn(token, ports.token ?? config.port, config.host);
  const mtlsPort = ports.mtls ?? config.mtlsPort;
  let mtls: Server | undefined;
  if (mtlsPort !== undefined) {
    mtls = createWsListener({ ...parts, kind: 'mtls' });
    try {
      await listenOn(mtls, mtlsPort, config.host);
    } catch (err) {
      token.close();
      throw err;
    }
  }
  const servers = { token, mtls };
  parts.log.info({ event: 'ws_listening', port: portOf(token), mtlsPort: portOf(mtls), host: config.host }, 'MQTT over WebSocket listening (bearer tokens; client certificates)');
  return servers;
}

export function portOf(server: Server | undefined): number {
  return (server?.address() as AddressInfo | null)?.port ?? 0;
}

/** Stops accepting; open WebSockets end with the broker's clients. */
export function closeWebSocketListeners(servers: WebSocketServers | undefined): void {
  servers?.token.close();
  servers?.mtls?.close();
}
