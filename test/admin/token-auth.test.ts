/** Bearer tokens against a JWKS served over a real local HTTP server (jose createRemoteJWKSet). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthConfigSchema } from '../../src/config/admin-config.ts';
import { createTokenAuthenticator, type TokenAuthenticator } from '../../src/admin/token-auth.ts';

let server: Server;
let auth: TokenAuthenticator;
let good: CryptoKey;
let stranger: CryptoKey;

const sign = (key: CryptoKey, claims: Record<string, unknown>, kid = 'k1') => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid })
  .setIssuer('https://idp.test/').setAudience('thingiq-admin').setSubject('bob').setExpirationTime('5m').sign(key);

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  good = pair.privateKey;
  stranger = (await generateKeyPair('ES256')).privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const config = OAuthConfigSchema.parse({ issuer: 'https://idp.test/', audience: 'thingiq-admin', jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks` });
  auth = createTokenAuthenticator(config);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('token authentication with a remote JWKS', () => {
  it('maps claims to a principal', async () => {
    expect(await auth(`Bearer ${await sign(good, { roles: ['tenant-reader', 'tenant-admin'], tenant: 'acme' })}`))
      .toEqual({ actor: 'token:bob', role: 'tenant-admin', tenantId: 'acme', via: 'token' });
    expect((await auth(`Bearer ${await sign(good, { roles: 'operator', amr: ['hwk'] })}`)).role).toBe('operator');
  });

  it.each([
    ['a key not in the JWKS', async () => sign(stranger, { roles: ['operator'], amr: ['otp'] }), 'TIQ_ERR_TOKEN_INVALID'],
    ['an unsigned token (alg none)', async () => new UnsecuredJWT({ roles: ['operator'], amr: ['otp'] }).setIssuer('https://idp.test/').setAudience('thingiq-admin').setSubject('bob').setExpirationTime('5m').encode(), 'TIQ_ERR_TOKEN_INVALID'],
    ['a tenant role without a tenant', async () => sign(good, { roles: ['tenant-admin'] }), 'TIQ_ERR_TOKEN_INVALID'],
    ['no known role', async () => sign(good, { roles: ['superuser'] }), 'TIQ_ERR_FORBIDDEN'],
    ['operator with password only', async () => sign(good, { roles: ['operator'], amr: ['pwd'] }), 'TIQ_ERR_MFA_REQUIRED'],
    ['operator without amr', async () => sign(good, { roles: ['operator'] }), 'TIQ_ERR_MFA_REQUIRED'],
  ])('refuses %s', async (_name, make, code) => {
    await expect(auth(`Bearer ${await make()}`)).rejects.toMatchObject({ code });
  });

  it('refuses a missing or malformed Authorization header', async () => {
    await expect(auth(undefined)).rejects.toMatchObject({ code: 'TIQ_ERR_UNAUTHENTICATED' });
    await expect(auth('Basic dXNlcjpwYXNz')).rejects.toMatchObject({ code: 'TIQ_ERR_UNAUTHENTICATED' });
  });

  it('refuses every token when OAuth is not configured', async () => {
    await expect(createTokenAuthenticator(undefined)(`Bearer ${await sign(good, { roles: ['operator'], amr: ['otp'] })}`)).rejects.toMatchObject({ code: 'TIQ_ERR_TOKEN_INVALID' });
  });

  it('config needs exactly one JWKS source', () => {
    expect(OAuthConfigSchema.safeParse({ issuer: 'i', audience: 'a' }).success).toBe(false);
    expect(OAuthConfigSchema.safeParse({ issuer: 'i', audience: 'a', jwksFile: 'x', jwksUrl: 'https://x/' }).success).toBe(false);
  });
});
