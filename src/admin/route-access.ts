/**
 * Per-route access rules and the request stages that enforce them, in
 * order: authenticate → scope to tenant → check role → audit the intent of
 * a change → handler → audit the outcome.
 * Scope comes before role so that a tenant-scoped caller probing another
 * tenant learns nothing: it gets the same 404 as for a tenant that does not
 * exist, whatever the route would need.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { isTiqError, TiqError } from '../errors.ts';
import { ID_PATTERN, ID_PROBLEM } from '../identity/identity.ts';
import type { Role } from '../config/admin-config.ts';
import type { AuditInput } from '../audit/audit-entry.ts';
import type { AdminDeps } from './admin-deps.ts';
import { canSeeTenant, roleAtLeast, type Principal } from './principal.ts';
import { sessionPrincipal } from './console/session-auth.ts';
import type { SessionStore } from './console/sessions.ts';

export interface RouteAccess {
  /** 'public': no credentials (health, readiness, the OpenAPI document). */
  readonly needs: Role | 'public';
  /** Audit verb, e.g. `devices.revoke`. */
  readonly action: string;
  /** Successful calls are not audited (metrics scrapes); refusals still are, aggregated. */
  readonly quiet?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    tiq?: RouteAccess;
  }
}

export interface AccessContext {
  readonly deps: AdminDeps;
  readonly fromCertificate: (socket: TLSSocket) => Principal;
  readonly fromToken: (authorization: string | undefined) => Promise<Principal>;
  /** Sockets accepted by the mTLS listener. */
  readonly isMtlsSocket: (socket: unknown) => boolean;
  /** Console sessions: on the bearer listener, a request without a token may carry a session cookie instead. */
  readonly sessions?: SessionStore;
}

const principals = new WeakMap<FastifyRequest, Principal>();
const auditNotes = new WeakMap<FastifyRequest, string>();
/** Requests whose intent entry is on disk: their outcome is written individually. */
const intents = new WeakSet<FastifyRequest>();
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function principalOf(request: FastifyRequest): Principal {
  const p = principals.get(request);
  if (!p) throw new TiqError('TIQ_ERR_UNAUTHENTICATED');
  return p;
}

/** Adds an outcome detail to the request's audit entry (ids, counts; never payloads). */
export function noteAudit(request: FastifyRequest, detail: string): void {
  auditNotes.set(request, detail);
}

export function paramsOf(request: FastifyRequest): { tenant?: string; device?: string } {
  return (request.params ?? {}) as { tenant?: string; device?: string };
}

/**
 * Path parameters that fail the id pattern, as problems. Every path parameter
 * of the admin API is an id (tenant, device, app, group), so a new route is
 * covered without declaring anything.
 */
export function invalidParams(request: FastifyRequest): string[] {
  return Object.entries((request.params ?? {}) as Record<string, unknown>)
    .filter(([, v]) => typeof v !== 'string' || !ID_PATTERN.test(v))
    .map(([k]) => `${k}: ${ID_PROBLEM}`);
}

/** Params as the audit log may record them: an invalid id is never written (the log is append-only). */
function validParamsOf(request: FastifyRequest): { tenant?: string; device?: string } {
  const { tenant, device } = paramsOf(request);
  const ok = (v: string | undefined) => (v !== undefined && ID_PATTERN.test(v) ? v : undefined);
  const t = ok(tenant);
  const d = ok(device);
  return { ...(t !== undefined ? { tenant: t } : {}), ...(t !== undefined && d !== undefined ? { device: d } : {}) };
}

async function authenticate(request: FastifyRequest, ctx: AccessContext): Promise<Principal> {
  const socket = request.raw.socket as TLSSocket;
  // Each listener accepts one kind of credential: certificates where OpenSSL verified them, tokens elsewhere.
  const principal = ctx.isMtlsSocket(socket) ? ctx.fromCertificate(socket) : await fromTokenOrSession(request, ctx);
  // A credential outlives its tenant: once the tenant is removed or deactivated, its callers have no access left.
  if (principal.tenantId !== undefined && !ctx.deps.tenants.get(principal.tenantId)?.active) {
    throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', 'the caller\'s tenant is no longer configured or not active');
  }
  return principal;
}

/** A console session stands for a token only when the request has no Authorization header: a token always wins. */
async function fromTokenOrSession(request: FastifyRequest, ctx: AccessContext): Promise<Principal> {
  const viaSession = request.headers.authorization === undefined && ctx.sessions ? sessionPrincipal(request, ctx.sessions) : undefined;
  return viaSession ?? await ctx.fromToken(request.headers.authorization);
}

export function installAccessControl(app: FastifyInstance, ctx: AccessContext): void {
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.tiq;
    if (!access || access.needs === 'public') return;
    const principal = await authenticate(request, ctx);
    principals.set(request, principal);
    // Before scope: an id that cannot exist is a bad request, whoever asks (nothing to hide).
    const problems = invalidParams(request);
    if (problems.length) throw new TiqError('TIQ_ERR_INVALID_ID', { problems });
    const { tenant } = paramsOf(request);
    if (tenant !== undefined && (!canSeeTenant(principal, tenant) || !ctx.deps.tenants.get(tenant))) {
      throw new TiqError('TIQ_ERR_NOT_FOUND');
    }
    if (!roleAtLeast(principal.role, access.needs)) throw new TiqError('TIQ_ERR_FORBIDDEN');
  });

  // Fail closed: a change whose audit entry cannot be written is refused before the handler runs.
  app.addHook('preHandler', async (request) => {
    const access = request.routeOptions.config.tiq;
    if (!access || access.needs === 'public' || READS.has(request.method)) return;
    await ctx.deps.audit.commit({ ...auditInput(request, access, ctx.deps), result: 'started', detail: '' });
    intents.add(request);
  });

  // onSend, not onResponse: a call whose audit entry cannot be written is not reported as done.
  app.addHook('onSend', async (request, reply, payload) => {
    const access = request.routeOptions.config.tiq;
    if (!access || access.needs === 'public') return payload;
    try {
      await appendOutcome(request, reply, access, ctx.deps);
      return payload;
    } catch (err) {
      const e = isTiqError(err) ? err : new TiqError('TIQ_ERR_AUDIT');
      reply.code(e.httpStatus).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({ code: e.code, message: 'the audit entry of this call could not be written' });
    }
  });
}

function auditInput(request: FastifyRequest, access: RouteAccess, deps: AdminDeps): Omit<AuditInput, 'result'> {
  const p = principals.get(request);
  const { tenant, device } = validParamsOf(request);
  const target = tenant && device ? `device:${deps.audit.pseudonyms.device(tenant, device)}` : tenant ? `tenant:${tenant}` : '-';
  return { actor: p?.actor ?? 'anonymous', role: p?.role ?? 'none', action: access.action, target, tenant: tenant ?? p?.tenantId ?? '' };
}

/**
 * A change that passed its intent entry gets its own outcome entry; every
 * other call (reads, refusals, unauthenticated requests) is aggregated per
 * source and interval, so a flood writes one entry per source, not one per
 * request.
 */
async function appendOutcome(request: FastifyRequest, reply: FastifyReply, access: RouteAccess, deps: AdminDeps): Promise<void> {
  const status = reply.statusCode;
  const result = status < 400 ? 'ok' : status === 401 || status === 403 || status === 404 ? 'denied' : 'failed';
  if (access.quiet && result === 'ok') return;
  const input: AuditInput = { ...auditInput(request, access, deps), result, detail: [`${status}`, errorCodeOf(request), auditNotes.get(request)].filter(Boolean).join(' ') };
  if (intents.has(request)) {
    await deps.audit.commit(input);
    return;
  }
  if (!principals.has(request)) {
    // Unauthenticated: one key per source address, whatever path it tries, and no caller-chosen names in the entry.
    await deps.audit.aggregator.record(`${request.ip}|anonymous|${result}`, { ...input, target: '-', tenant: '' });
    return;
  }
  await deps.audit.aggregator.record([request.ip, input.actor, input.action, input.target, input.detail].join('|'), input);
}

const errorCodes = new WeakMap<FastifyRequest, string>();

export function rememberErrorCode(request: FastifyRequest, code: string): void {
  errorCodes.set(request, code);
}

function errorCodeOf(request: FastifyRequest): string | undefined {
  return errorCodes.get(request);
}
