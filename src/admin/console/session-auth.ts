/**
 * The console's cookie as a credential of the bearer listener. A request
 * carrying the session cookie (and no Authorization header) is the session's
 * person, with the role and tenant the session was opened with; it then goes
 * through the same scope, role and audit stages as any API call
 * (route-access.ts). A state change also needs the session's CSRF token in
 * `x-csrf-token` (synchronizer token, OWASP CSRF cheat sheet) and an Origin
 * naming this listener, so another site cannot ride on the cookie even where
 * SameSite=Strict is not honoured.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TiqError } from '../../errors.ts';
import type { Principal } from '../principal.ts';
import { sameToken, type ConsoleSession, type SessionStore } from './sessions.ts';

/** `__Host-`: the browser keeps it only when Secure, Path=/ and without Domain (RFC 6265bis 4.1.3.2). */
export const SESSION_COOKIE = '__Host-thingiq-console';
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setSessionCookie(reply: FastifyReply, id: string, maxAgeS: number): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`);
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`);
}

/** The origin this listener is, as the browser named it (Host header). */
export function ownOrigin(request: FastifyRequest): string {
  return `https://${request.headers.host ?? ''}`;
}

/** Refuses a state change that does not come from the console's own page. */
export function checkSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  if (origin !== ownOrigin(request) || (site !== undefined && site !== 'same-origin')) {
    throw new TiqError('TIQ_ERR_CSRF', 'the request does not come from this console');
  }
}

/**
 * The session behind the request's cookie, or undefined when it has none.
 * A cookie naming no live session is TIQ_ERR_SESSION_EXPIRED; a state change
 * without the right CSRF token or origin is TIQ_ERR_CSRF.
 */
export function sessionPrincipal(request: FastifyRequest, sessions: SessionStore): Principal | undefined {
  const session = sessionOf(request, sessions);
  if (!session) return undefined;
  if (!READS.has(request.method)) {
    checkSameOrigin(request);
    const sent = request.headers['x-csrf-token'];
    if (!sameToken(typeof sent === 'string' ? sent : undefined, session.csrf)) throw new TiqError('TIQ_ERR_CSRF', 'missing or wrong x-csrf-token');
  }
  return session.principal;
}

export function sessionOf(request: FastifyRequest, sessions: SessionStore, touch = true): ConsoleSession | undefined {
  const id = cookieOf(request, SESSION_COOKIE);
  if (id === undefined || id === '') return undefined;
  const session = sessions.get(id, touch);
  if (!session) throw new TiqError('TIQ_ERR_SESSION_EXPIRED');
  return session;
}
