/**
 * Sessions of tenant apps that prove themselves with a bearer token on the
 * MQTT-over-WebSocket listener. A browser cannot set headers on a WebSocket,
 * so the JWT travels in the CONNECT password; a backend may instead put it
 * in the upgrade request's `Authorization: Bearer` header. The token is
 * verified as the admin API verifies it (issuer, audience, JWKS, roles,
 * tenant claim, MFA); the username names the app whose grants apply, or is
 * `token` when the token's app claim names it. The session ends at the
 * token's `exp`, like a certificate session at notAfter.
 */
import { TiqError } from '../errors.ts';
import { appUri, isValidId } from '../identity/identity.ts';
import type { PeerInfo } from './client-state.ts';

/** What the gateway's token verification tells the broker about a valid token. */
export interface TokenGrant {
  readonly tenantId: string;
  /** ms since the epoch (the `exp` claim): the session is closed then. */
  readonly expiresAtMs: number;
  /** The app the token is bound to (its app claim), if it names one. */
  readonly appId: string | undefined;
}

/** Verifies a compact JWT; throws TIQ_ERR_TOKEN_INVALID, TIQ_ERR_MFA_REQUIRED or TIQ_ERR_NOT_AUTHORIZED. */
export type TokenCheck = (token: string) => Promise<TokenGrant>;

/** The username that means "the app named by the token". */
export const TOKEN_USERNAME = 'token';

interface PendingToken {
  readonly remoteAddress: string;
  /** The upgrade request's Authorization header, if any. */
  readonly authorization: string | undefined;
}

const pending = new WeakMap<object, PendingToken>();

/** Marks a connection of the token listener: its identity is settled at CONNECT. */
export function expectToken(stream: object, info: PendingToken): void {
  pending.set(stream, info);
}

export function isTokenConnection(stream: object): boolean {
  return pending.has(stream);
}

function tokenOf(info: PendingToken, password: Buffer | undefined): string {
  if (password && password.length > 0) return password.toString('utf8');
  const m = /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/i.exec(info.authorization ?? '');
  if (m) return m[1]!;
  throw new TiqError('TIQ_ERR_UNAUTHENTICATED', { reason: 'no token in the CONNECT password or the Authorization header' });
}

function appOf(username: string | undefined, grant: TokenGrant): string {
  const named = username && username !== TOKEN_USERNAME ? username : undefined;
  if (named !== undefined && !isValidId(named)) throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', { reason: 'the username is not an app id' });
  // A token bound to one app may act as no other.
  if (named !== undefined && grant.appId !== undefined && named !== grant.appId) {
    throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', { reason: 'the token is bound to another app' });
  }
  const appId = named ?? grant.appId;
  if (appId === undefined || !isValidId(appId)) {
    throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', { reason: 'no app: name it in the MQTT username or in the token\'s app claim' });
  }
  return appId;
}

/** The peer a token proves, or a TiqError saying why not. */
export async function tokenPeer(check: TokenCheck, stream: object, username: string | undefined, password: Buffer | undefined): Promise<PeerInfo> {
  const info = pending.get(stream);
  if (!info) throw new TiqError('TIQ_ERR_UNAUTHENTICATED');
  const grant = await check(tokenOf(info, password));
  const appId = appOf(username, grant);
  return {
    identity: { kind: 'app', tenantId: grant.tenantId, appId, uri: appUri(grant.tenantId, appId) },
    serial: '', remoteAddress: info.remoteAddress, notAfterMs: grant.expiresAtMs, credential: 'token',
  };
}

/** CONNACK return codes [MQTT-3.2.2.3]: 4 for a missing or bad credential, 5 for one that may not do this. */
export function tokenReturnCode(code: string): 4 | 5 {
  return code === 'TIQ_ERR_UNAUTHENTICATED' || code === 'TIQ_ERR_TOKEN_INVALID' ? 4 : 5;
}
