/**
 * The console as an OAuth 2.0 client: authorization code with PKCE
 * (RFC 6749 4.1, RFC 7636 S256), a public client (no secret). The access
 * token the issuer returns is checked exactly as a bearer token of the API
 * (token-auth.ts): same issuer, audience, JWKS, roles and MFA rule.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { TiqError } from '../../errors.ts';
import type { ConsoleConfig } from '../../config/admin-config.ts';

type ConsoleOAuth = NonNullable<ConsoleConfig['oauth']>;

export interface PendingLogin {
  readonly verifier: string;
  readonly redirectUri: string;
  readonly createdAtMs: number;
}

/** A sign-in must come back from the issuer within this time. */
const PENDING_TTL_MS = 600_000;
const MAX_PENDING = 1000;

export class OAuthClient {
  private readonly pending = new Map<string, PendingLogin>();
  private readonly ca: string[] | undefined;

  constructor(private readonly config: ConsoleOAuth, baseDir: string) {
    const file = config.caFile === undefined ? undefined : config.caFile.startsWith('/') ? config.caFile : `${baseDir}/${config.caFile}`;
    this.ca = file === undefined ? undefined : [...rootCertificates, readFileSync(file, 'utf8')];
  }

  /** The issuer URL to send the browser to, and the state that must come back. */
  start(redirectUri: string, stepUp: boolean): { url: string; state: string } {
    const at = Date.now();
    for (const [k, p] of this.pending) if (at - p.createdAtMs > PENDING_TTL_MS) this.pending.delete(k);
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    this.pending.set(state, { verifier, redirectUri, createdAtMs: at });
    const url = new URL(this.config.authorizationEndpoint);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', this.config.clientId);
    q.set('redirect_uri', redirectUri);
    q.set('scope', this.config.scope);
    q.set('state', state);
    q.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    q.set('code_challenge_method', 'S256');
    // Step-up (RFC 9470): ask the issuer for a fresh, multi-factor authentication.
    if (stepUp) {
      q.set('acr_values', this.config.stepUpAcr);
      q.set('prompt', 'login');
      q.set('max_age', '0');
    }
    return { url: url.toString(), state };
  }

  /** Redeems the code for an access token; the state is single-use. */
  async finish(state: string, code: string): Promise<string> {
    const login = this.pending.get(state);
    this.pending.delete(state);
    if (!login || Date.now() - login.createdAtMs > PENDING_TTL_MS) throw new TiqError('TIQ_ERR_OAUTH', { reason: 'unknown or expired state' });
    const form = new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, client_id: this.config.clientId, code_verifier: login.verifier,
    });
    const answer = await this.post(form.toString());
    const token = answer['access_token'];
    if (typeof token !== 'string' || token === '') throw new TiqError('TIQ_ERR_OAUTH', { reason: 'no access_token in the token answer' });
    return token;
  }

  private post(body: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(this.config.tokenEndpoint, {
        method: 'POST', agent: false, timeout: 10_000, ...(this.ca ? { ca: this.ca } : {}),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new TiqError('TIQ_ERR_OAUTH', { reason: `token endpoint answered ${res.statusCode}` }));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
          } catch {
            reject(new TiqError('TIQ_ERR_OAUTH', { reason: 'token answer is not JSON' }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => reject(new TiqError('TIQ_ERR_OAUTH', { reason: `token endpoint: ${err.message}` })));
      req.end(body);
    });
  }
}
