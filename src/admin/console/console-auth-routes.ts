/**
 * Signing in to the console and out again (docs/console.md):
 *
 * - `POST /v1/console/sign-in-links` (API, operator certificate): a one-time
 *   link for the caller, as `thingiq console` prints it.
 * - `POST /console/auth/link`: the console page redeems the link's code for
 *   a session (the code travels in the URL fragment, so no server log or
 *   Referer ever carries it).
 * - `GET /console/auth/login`, `GET /console/auth/callback`: OAuth 2.0
 *   authorization code with PKCE against the configured issuer.
 * - `GET /console/auth/session`, `POST /console/auth/sign-out`.
 *
 * Sign-ins and sign-outs are audited with the person's actor, as API calls are.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isTiqError, TiqError } from '../../errors.ts';
import type { AuditInput } from '../../audit/audit-entry.ts';
import type { ConsoleConfig } from '../../config/admin-config.ts';
import type { AdminDeps } from '../admin-deps.ts';
import type { Principal } from '../principal.ts';
import { principalOf } from '../route-access.ts';
import { route } from '../routes/route.ts';
import type { OAuthClient } from './oauth-client.ts';
import { checkSameOrigin, clearSessionCookie, cookieOf, ownOrigin, SESSION_COOKIE, sessionOf, sessionPrincipal, setSessionCookie } from './session-auth.ts';
import type { ConsoleSession, SessionStore } from './sessions.ts';
import type { FastifyInstance } from 'fastify';

const STATE_COOKIE = '__Host-thingiq-oauth';

export interface ConsoleAuthContext {
  readonly app: FastifyInstance;
  readonly deps: AdminDeps;
  readonly config: ConsoleConfig;
  readonly sessions: SessionStore;
  readonly oauth: OAuthClient | undefined;
  readonly fromToken: (authorization: string | undefined) => Promise<Principal>;
  /** Console paths answer on the bearer listener only. */
  readonly onBearerListener: (request: FastifyRequest) => boolean;
}

export function registerConsoleAuthRoutes(ctx: ConsoleAuthContext): void {
  const { app, sessions } = ctx;
  // An operator who holds a certificate (the local operator, through `thingiq console`) asks for a link for itself.
  route(app, 'POST', '/v1/console/sign-in-links', { needs: 'operator', action: 'console.link' }, async (request, reply) => {
    const p = principalOf(request);
    if (p.via !== 'certificate') throw new TiqError('TIQ_ERR_FORBIDDEN', 'sign-in links are made with an operator certificate');
    const { code, expiresAtMs } = sessions.createLink({ ...p, via: 'session' });
    reply.code(201);
    return { path: `/console/#link=${code}`, port: bearerPort(app), expiresAt: new Date(expiresAtMs).toISOString() };
  }, { bodyLimit: 1024 });

  const bearerOnly = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      if (!ctx.onBearerListener(request)) throw new TiqError('TIQ_ERR_NOT_FOUND');
      reply.header('cache-control', 'no-store');
      return handler(request, reply);
    };

  app.post('/console/auth/link', { bodyLimit: 1024 }, bearerOnly(async (request, reply) => {
    // A page of another site must not sign the browser in to someone else's session (login CSRF).
    checkSameOrigin(request);
    const code = (request.body as { code?: unknown } | undefined)?.code;
    const principal = typeof code === 'string' ? sessions.redeemLink(code) : undefined;
    if (!principal) {
      await audit(ctx, request, { actor: 'anonymous', role: 'none', result: 'denied', detail: 'TIQ_ERR_SIGN_IN_LINK' }, 'link');
      throw new TiqError('TIQ_ERR_SIGN_IN_LINK');
    }
    return signIn(ctx, request, reply, principal, 'link');
  }));

  app.get('/console/auth/session', bearerOnly(async (request) => {
    const session = sessionOf(request, sessions);
    if (!session) throw new TiqError('TIQ_ERR_UNAUTHENTICATED');
    return describe(ctx, session);
  }));

  app.post('/console/auth/sign-out', { bodyLimit: 1024 }, bearerOnly(async (request, reply) => {
    const principal = sessionPrincipal(request, sessions);
    if (!principal) throw new TiqError('TIQ_ERR_UNAUTHENTICATED');
    sessions.end(cookieOf(request, SESSION_COOKIE)!);
    clearSessionCookie(reply);
    await audit(ctx, request, { actor: principal.actor, role: principal.role, result: 'ok', tenant: principal.tenantId }, 'sign-out');
    return { signedOut: true };
  }));

  app.get('/console/auth/login', bearerOnly(async (request, reply) => {
    if (!ctx.oauth) throw new TiqError('TIQ_ERR_NOT_FOUND');
    const stepUp = (request.query as { stepUp?: string }).stepUp === '1';
    const redirectUri = ctx.config.oauth?.redirectUri ?? `${ownOrigin(request)}/console/auth/callback`;
    const { url, state } = ctx.oauth.start(redirectUri, stepUp);
    // Lax, not Strict: it must come back with the issuer's top-level redirect to the callback.
    reply.header('set-cookie', `${STATE_COOKIE}=${state}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600`);
    return reply.redirect(url, 302);
  }));

  app.get('/console/auth/callback', bearerOnly(async (request, reply) => {
    if (!ctx.oauth) throw new TiqError('TIQ_ERR_NOT_FOUND');
    const q = request.query as { code?: string; state?: string; error?: string };
    reply.header('set-cookie', `${STATE_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`);
    try {
      // The state must be the one this browser was given (binds the answer to the browser that started).
      if (!q.state || !q.code || cookieOf(request, STATE_COOKIE) !== q.state) throw new TiqError('TIQ_ERR_OAUTH', { reason: q.error ?? 'state does not match' });
      const token = await ctx.oauth.finish(q.state, q.code);
      const principal = await ctx.fromToken(`Bearer ${token}`);
      await signIn(ctx, request, reply, { ...principal, via: 'session' }, 'oauth');
      return reply.redirect('/console/', 303);
    } catch (err) {
      const code = isTiqError(err) ? err.code : 'TIQ_ERR_OAUTH';
      await audit(ctx, request, { actor: 'anonymous', role: 'none', result: 'denied', detail: code }, 'oauth');
      return reply.redirect(`/console/#signin-error=${code}`, 303);
    }
  }));
}

async function signIn(ctx: ConsoleAuthContext, request: FastifyRequest, reply: FastifyReply, principal: Principal, how: string): Promise<object> {
  if (principal.tenantId !== undefined && !ctx.deps.tenants.get(principal.tenantId)?.active) {
    throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', 'the caller\'s tenant is no longer configured or not active');
  }
  const { id, session } = ctx.sessions.create(principal);
  setSessionCookie(reply, id, ctx.config.absoluteTimeoutS);
  await audit(ctx, request, { actor: principal.actor, role: principal.role, result: 'ok', tenant: principal.tenantId }, `sign-in`, how);
  return describe(ctx, session);
}

function describe(ctx: ConsoleAuthContext, s: ConsoleSession): object {
  const e = ctx.sessions.expiry(s);
  return {
    actor: s.principal.actor, role: s.principal.role, tenant: s.principal.tenantId ?? null, csrfToken: s.csrf,
    idleTimeoutS: ctx.config.idleTimeoutS, expiresAt: new Date(e.absoluteAtMs).toISOString(),
  };
}

interface AuditWho {
  readonly actor: string;
  readonly role: string;
  readonly result: AuditInput['result'];
  readonly tenant?: string | undefined;
  readonly detail?: string;
}

/** Successes are written one by one; refused attempts are aggregated per source, as the API's are. */
async function audit(ctx: ConsoleAuthContext, request: FastifyRequest, who: AuditWho, verb: string, how = ''): Promise<void> {
  const input: AuditInput = {
    actor: who.actor, role: who.role, action: `console.${verb}`, target: '-', tenant: who.tenant ?? '', result: who.result,
    detail: [how, who.detail].filter(Boolean).join(' '),
  };
  if (who.result === 'ok') await ctx.deps.audit.commit(input);
  else await ctx.deps.audit.aggregator.record(`${request.ip}|console|${verb}`, input);
}

function bearerPort(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}
