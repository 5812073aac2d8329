/**
 * Principals from OAuth 2.0 bearer tokens (RFC 6750): JWTs verified with
 * jose against the configured issuer, audience and JWKS. Roles come from a
 * claim, the tenant from another; roles listed in mfaRequiredFor need an
 * `amr` (RFC 8176) value counted as multi-factor, else the caller is told to
 * step up (RFC 9470).
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { TiqError } from '../errors.ts';
import { isValidId } from '../identity/identity.ts';
import type { OAuthConfig } from '../config/admin-config.ts';
import { strongestRole, type Principal } from './principal.ts';

export type TokenAuthenticator = (authorization: string | undefined) => Promise<Principal>;

/** A verified token: its principal, its claims (the WebSocket listener reads `exp` and the app claim). */
export interface VerifiedToken {
  readonly principal: Principal;
  readonly claims: JWTPayload;
}
export type TokenVerifier = (authorization: string | undefined) => Promise<VerifiedToken>;

function keySetOf(config: OAuthConfig, baseDir: string): Parameters<typeof jwtVerify>[1] {
  if (config.jwksUrl) return createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  const path = config.jwksFile!.startsWith('/') ? config.jwksFile! : `${baseDir}/${config.jwksFile!}`;
  return createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')) as Parameters<typeof createLocalJWKSet>[0]);
}

function bearerOf(authorization: string | undefined): string {
  const m = /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/i.exec(authorization ?? '');
  if (!m) throw new TiqError('TIQ_ERR_UNAUTHENTICATED');
  return m[1]!;
}

function rolesOf(payload: JWTPayload, claim: string): string[] {
  const v = payload[claim];
  if (typeof v === 'string') return v.split(' ');
  return Array.isArray(v) ? v.filter((r): r is string => typeof r === 'string') : [];
}

export function createTokenAuthenticator(config: OAuthConfig | undefined, baseDir = process.cwd()): TokenAuthenticator {
  const verify = createTokenVerifier(config, baseDir);
  return async (authorization) => (await verify(authorization)).principal;
}

/** The one verification of bearer tokens, for the admin API and the MQTT-over-WebSocket listener alike. */
export function createTokenVerifier(config: OAuthConfig | undefined, baseDir = process.cwd()): TokenVerifier {
  if (!config) {
    return async (authorization) => {
      bearerOf(authorization);
      // Tokens are not configured: a token can never be valid here.
      throw new TiqError('TIQ_ERR_TOKEN_INVALID', 'OAuth is not configured');
    };
  }
  const keys = keySetOf(config, baseDir);
  return async (authorization) => {
    const token = bearerOf(authorization);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer, audience: config.audience, algorithms: config.algorithms,
        clockTolerance: config.clockToleranceS, requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw new TiqError('TIQ_ERR_TOKEN_INVALID', { reason: err.code });
      throw err;
    }
    return { principal: principalOf(payload, config), claims: payload };
  };
}

function principalOf(payload: JWTPayload, config: OAuthConfig): Principal {
  const role = strongestRole(rolesOf(payload, config.rolesClaim));
  if (!role) throw new TiqError('TIQ_ERR_FORBIDDEN', 'the token carries no admin role');
  const amr = Array.isArray(payload['amr']) ? payload['amr'] : [];
  if (config.mfaRequiredFor.includes(role) && !amr.some((m) => config.mfaAmr.includes(String(m)))) {
    throw new TiqError('TIQ_ERR_MFA_REQUIRED');
  }
  const actor = `token:${payload.sub!}`;
  if (role === 'operator') return { actor, role, tenantId: undefined, via: 'token' };
  const tenant = payload[config.tenantClaim];
  if (typeof tenant !== 'string' || !isValidId(tenant)) throw new TiqError('TIQ_ERR_TOKEN_INVALID', { reason: 'tenant claim' });
  return { actor, role, tenantId: tenant, via: 'token' };
}
