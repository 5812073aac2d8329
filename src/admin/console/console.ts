/**
 * The web console on the admin API's bearer listener (docs/console.md): its
 * sessions, sign-in routes, live overview and static files.
 */
import type { FastifyRequest } from 'fastify';
import type { AdminConfig } from '../../config/admin-config.ts';
import type { AdminDeps } from '../admin-deps.ts';
import type { Principal } from '../principal.ts';
import { registerConsoleAuthRoutes } from './console-auth-routes.ts';
import { OAuthClient } from './oauth-client.ts';
import { registerOverviewRoutes } from './overview-routes.ts';
import { SessionStore } from './sessions.ts';
import { defaultConsoleDir, registerStaticFiles } from './static-files.ts';
import type { FastifyInstance } from 'fastify';

export interface ConsoleOptions {
  readonly app: FastifyInstance;
  readonly deps: AdminDeps;
  readonly config: AdminConfig;
  readonly baseDir: string;
  readonly sessions: SessionStore;
  readonly fromToken: (authorization: string | undefined) => Promise<Principal>;
  readonly onBearerListener: (request: FastifyRequest) => boolean;
  /** Where the built files are; default dist/console. */
  readonly staticDir?: string | undefined;
}

export function consoleSessions(config: AdminConfig): SessionStore {
  return new SessionStore({ idleMs: config.console.idleTimeoutS * 1000, absoluteMs: config.console.absoluteTimeoutS * 1000 });
}

export function registerConsole(o: ConsoleOptions): void {
  const c = o.config.console;
  registerOverviewRoutes({ app: o.app, deps: o.deps, config: o.config }, o.sessions);
  if (!c.enabled) return;
  // The console's OAuth client checks tokens with the API's settings: without them it has nothing to check with.
  const oauth = c.oauth && o.config.oauth ? new OAuthClient(c.oauth, o.baseDir) : undefined;
  registerConsoleAuthRoutes({ app: o.app, deps: o.deps, config: c, sessions: o.sessions, oauth, fromToken: o.fromToken, onBearerListener: o.onBearerListener });
  registerStaticFiles(o.app, o.staticDir ?? defaultConsoleDir(), o.onBearerListener);
}
