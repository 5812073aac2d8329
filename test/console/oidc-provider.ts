/**
 * A small OpenID Connect provider for the console's browser tests: the real
 * authorization code flow with PKCE over HTTPS (its own per-run CA), signing
 * ES256 access tokens with jose. It signs in whoever `nextUser` names, with
 * or without multi-factor (`amr`); a step-up request (acr_values) is
 * answered with multi-factor when the user can do it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { initPki, pkiPaths } from '../../src/pki/pki-store.ts';

export interface TestUser {
  readonly sub: string;
  readonly roles: string[];
  readonly tenant?: string;
  /** Signs in with a second factor only when asked to step up. */
  readonly mfaOnStepUp?: boolean;
  /** Always signs in with a second factor. */
  readonly mfa?: boolean;
}

export const AUDIENCE = 'thingiq-admin';
export const CLIENT_ID = 'thingiq-console';

export class OidcProvider {
  nextUser: TestUser = { sub: 'nobody', roles: [] };
  /** Every authorization request, for assertions (PKCE parameters, step-up). */
  readonly authorizations: URLSearchParams[] = [];
  readonly caPem: string;
  readonly caFile: string;
  readonly jwksFile: string;
  /** Other pages this origin serves (a page of "another site" for CSRF tests). */
  readonly pages = new Map<string, string>();
  private readonly codes = new Map<string, { user: TestUser; challenge: string; redirectUri: string; mfa: boolean }>();
  private server!: Server;
  private key!: CryptoKey;
  url = '';

  constructor(readonly dir: string) {
    const pkiDir = join(dir, 'idp-pki');
    initPki(pkiDir, ['localhost']);
    this.caFile = pkiPaths(pkiDir).caCert;
    this.caPem = readFileSync(this.caFile, 'utf8');
    this.jwksFile = join(dir, 'idp-jwks.json');
  }

  async start(): Promise<void> {
    const pair = await generateKeyPair('ES256');
    this.key = pair.privateKey;
    writeFileSync(this.jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const p = pkiPaths(join(this.dir, 'idp-pki'));
    this.server = createServer({ cert: readFileSync(p.serverCert), key: readFileSync(p.serverKey) }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      if (req.method === 'GET' && url.pathname === '/authorize') return this.authorize(url.searchParams, res);
      const page = this.pages.get(url.pathname);
      if (req.method === 'GET' && page !== undefined) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      if (req.method === 'POST' && url.pathname === '/token') {
        let body = '';
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => void this.token(new URLSearchParams(body)).then(([status, json]) => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `https://localhost:${(this.server.address() as AddressInfo).port}`;
  }

  get issuer(): string {
    return `${this.url}/`;
  }

  private authorize(q: URLSearchParams, res: ServerResponse): void {
    this.authorizations.push(q);
    if (q.get('response_type') !== 'code' || q.get('client_id') !== CLIENT_ID || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
      res.writeHead(400).end('bad authorization request');
      return;
    }
    const code = randomBytes(16).toString('base64url');
    const stepUp = (q.get('acr_values') ?? '').length > 0;
    const mfa = this.nextUser.mfa === true || (stepUp && this.nextUser.mfaOnStepUp === true);
    this.codes.set(code, { user: this.nextUser, challenge: q.get('code_challenge')!, redirectUri: q.get('redirect_uri')!, mfa });
    const back = new URL(q.get('redirect_uri')!);
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state') ?? '');
    res.writeHead(302, { location: back.toString() }).end();
  }

  private async token(form: URLSearchParams): Promise<[number, object]> {
    const grant = this.codes.get(form.get('code') ?? '');
    this.codes.delete(form.get('code') ?? '');
    const verifier = form.get('code_verifier') ?? '';
    if (!grant || form.get('grant_type') !== 'authorization_code' || form.get('redirect_uri') !== grant.redirectUri
      || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      return [400, { error: 'invalid_grant' }];
    }
    const u = grant.user;
    const token = await new SignJWT({ roles: u.roles, ...(u.tenant ? { tenant: u.tenant } : {}), amr: grant.mfa ? ['pwd', 'otp'] : ['pwd'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(this.issuer).setAudience(AUDIENCE).setSubject(u.sub)
      .setIssuedAt().setExpirationTime('10m').sign(this.key);
    return [200, { access_token: token, token_type: 'Bearer', expires_in: 600 }];
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
