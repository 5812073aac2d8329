/**
 * The admin API: one fastify application served by two HTTPS listeners.
 *
 * - `port` (8443): server-authenticated TLS; callers present a bearer token.
 * - `mtlsPort` (8444): mutual TLS with requestCert and rejectUnauthorized,
 *   trusting only the gateway's CA; callers are their certificates.
 *
 * Why two: with requestCert and rejectUnauthorized Node refuses, at the
 * handshake, a client that sends no certificate (SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
 * so token clients could not connect; accepting unverified certificates and
 * checking `socket.authorized` per request is what this codebase forbids.
 * Two listeners keep OpenSSL verifying every certificate it accepts.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { TiqError } from '../errors.ts';
import type { AdminConfig } from '../config/admin-config.ts';
import type { AdminDeps } from './admin-deps.ts';
import { createCertificateAuthenticator } from './certificate-auth.ts';
import { installErrorHandlers } from './http-errors.ts';
import { limitListener, listenerOptions } from './listener-limits.ts';
import { installAccessControl } from './route-access.ts';
import { registerAuditRoutes } from './routes/audit-routes.ts';
import { registerBackupRoutes } from './routes/backup-routes.ts';
import { registerClusterRoutes } from './routes/cluster-routes.ts';
import { registerCertificateRoutes } from './routes/certificate-routes.ts';
import { registerDeviceRoutes } from './routes/device-routes.ts';
import { registerHealthRoutes } from './routes/health-routes.ts';
import { registerKeyRoutes } from './routes/key-routes.ts';
import { registerPrivacyRoutes } from './routes/privacy-routes.ts';
import { registerRecordRoutes } from './routes/record-routes.ts';
import { registerProvisioningRoutes } from './routes/provisioning-routes.ts';
import { registerRetentionRoutes } from './routes/retention-routes.ts';
import { registerSubjectRoutes } from './routes/subject-routes.ts';
import { registerTenantRoutes } from './routes/tenant-routes.ts';
import { createTokenAuthenticator } from './token-auth.ts';
import { consoleSessions, registerConsole } from './console/console.ts';

export interface AdminServerOptions {
  readonly config: AdminConfig;
  /** Relative jwksFile paths resolve against this. */
  readonly baseDir?: string;
  readonly logger?: FastifyBaseLogger;
  /** The console's built files; default dist/console. */
  readonly consoleDir?: string;
}

export interface AdminServer {
  readonly app: FastifyInstance;
  /** Listens on both ports; returns the bound ports (tests configure 0). */
  start(): Promise<{ port: number; mtlsPort: number }>;
  close(): Promise<void>;
  /** Every route as `METHOD /path/:param` (HEAD excluded): the OpenAPI test compares them with the document. */
  routes(): readonly string[];
}

const ROUTE_GROUPS = [registerHealthRoutes, registerTenantRoutes, registerDeviceRoutes, registerPrivacyRoutes,
  registerRetentionRoutes, registerKeyRoutes, registerSubjectRoutes, registerAuditRoutes, registerCertificateRoutes, registerBackupRoutes,
  registerRecordRoutes, registerProvisioningRoutes, registerClusterRoutes];

export function createAdminServer(deps: AdminDeps, options: AdminServerOptions): AdminServer {
  const { config } = options;
  const tls = { cert: deps.pki.serverCertPem, key: deps.pki.serverKeyPem, minVersion: 'TLSv1.2' as const, ...listenerOptions(config) };
  const mtlsSockets = new WeakSet<object>();
  let mtlsServer: HttpsServer | undefined;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: config.bodyLimitBytes,
    serverFactory: (handler) => {
      mtlsServer = createServer({ ...tls, ca: [deps.pki.caCertPem], requestCert: true, rejectUnauthorized: true }, handler);
      mtlsServer.on('secureConnection', (socket: TLSSocket) => mtlsSockets.add(socket));
      const bearerServer = createServer(tls, handler);
      limitListener(bearerServer, config, () => onDrop('bearer'));
      limitListener(mtlsServer, config, () => onDrop('mtls'));
      return bearerServer;
    },
  });
  function onDrop(listener: string): void {
    app.log.warn({ event: 'admin_connection_refused', code: 'TIQ_ERR_CONNECTION_LIMIT', listener, limit: config.maxConnections }, 'admin connection refused: listener at its connection limit');
  }
  installErrorHandlers(app);
  const fromToken = createTokenAuthenticator(config.oauth, options.baseDir);
  const isMtlsSocket = (socket: unknown) => typeof socket === 'object' && socket !== null && mtlsSockets.has(socket);
  const sessions = config.console.enabled ? consoleSessions(config) : undefined;
  installAccessControl(app, {
    deps,
    fromCertificate: createCertificateAuthenticator({ caCertPem: deps.pki.caCertPem, isRevoked: (s) => deps.pki.isRevoked(s), appRoles: config.appRoles, tenants: deps.tenants }),
    fromToken,
    isMtlsSocket,
    ...(sessions ? { sessions } : {}),
  });
  const routes: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push(`${m} ${r.url}`);
  });
  for (const register of ROUTE_GROUPS) register({ app, deps, config });
  registerConsole({
    app, deps, config, baseDir: options.baseDir ?? process.cwd(), sessions: sessions ?? consoleSessions(config), fromToken,
    onBearerListener: (request) => !isMtlsSocket(request.raw.socket), staticDir: options.consoleDir,
  });

  let ports = { port: 0, mtlsPort: 0 };
  return {
    app,
    async start() {
      await app.listen({ port: config.port, host: config.host, listenTextResolver: (address) => `admin API (HTTPS, bearer tokens) listening at ${address.replace(/^http:/, 'https:')}` });
      try {
        await listen(mtlsServer!, config.mtlsPort, config.host);
      } catch (err) {
        await app.close();
        throw err;
      }
      ports = { port: (app.server.address() as AddressInfo).port, mtlsPort: (mtlsServer!.address() as AddressInfo).port };
      return ports;
    },
    routes: () => [...routes].sort(),
    async close() {
      if (mtlsServer?.listening) {
        const closed = new Promise<void>((r) => mtlsServer!.close(() => r()));
        mtlsServer.closeAllConnections();
        await closed;
      }
      await app.close();
    },
  };
}

function listen(server: HttpsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new TiqError('TIQ_ERR_LISTEN',
      err.code === 'EADDRINUSE' ? `admin mTLS port ${port} is already in use` : `${err.code ?? ''} ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
}
