/**
 * The console's routes over real HTTPS, without a browser: who may make a
 * sign-in link, the session cookie as a credential of the bearer listener
 * only, CSRF token and Origin on changes, the overview's event stream cut
 * to the caller's tenant, and the static files on the bearer listener only.
 */
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminFixture, type Credentials } from './admin-fixture.ts';
import { CONSOLE_ROUTES } from './console-routes.ts';

const fx = new AdminFixture();
let op: Credentials;
beforeAll(() => fx.start().then(() => { op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' }); }), 60_000);
afterAll(() => fx.close());

/** A browser-like call on the bearer listener: cookie, Origin and CSRF header as given. */
const browser = fx.browser.bind(fx);

const origin = () => `https://localhost:${fx.ports.port}`;

/** A one-time sign-in link's code, made for the operator certificate. */
async function linkCode(): Promise<string> {
  const link = await fx.call('POST', '/v1/console/sign-in-links', op, {});
  return /#link=(.+)$/.exec(String(link.json['path']))![1]!;
}

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const code = await linkCode();
  const res = await browser('POST', '/console/auth/link', { origin: origin() }, { code });
  expect(res.status).toBe(200);
  const cookie = String([res.headers['set-cookie']].flat()[0]).split(';')[0]!;
  return { cookie, csrf: String(res.json['csrfToken']) };
}

describe('sign-in links', () => {
  it('are made for an operator certificate only', async () => {
    const made = await fx.call('POST', '/v1/console/sign-in-links', op, {});
    expect(made.status).toBe(201);
    expect(made.json['port']).toBe(fx.ports.port);
    const mfa = await fx.token({ roles: ['operator'], amr: ['otp'] });
    expect((await fx.call('POST', '/v1/console/sign-in-links', { token: mfa }, {})).json['code']).toBe('TIQ_ERR_FORBIDDEN');
    const admin = await fx.token({ roles: ['tenant-admin'], tenant: 'acme' });
    expect((await fx.call('POST', '/v1/console/sign-in-links', { token: admin }, {})).json['code']).toBe('TIQ_ERR_FORBIDDEN');
    const app = fx.certificate({ kind: 'app', tenantId: 'acme', appId: 'dash', uri: '' });
    expect((await fx.call('POST', '/v1/console/sign-in-links', app, {})).json['code']).toBe('TIQ_ERR_FORBIDDEN');
    expect((await fx.call('POST', '/v1/console/sign-in-links', {}, {})).json['code']).toBe('TIQ_ERR_UNAUTHENTICATED');
  });

  it('are redeemed once, from the console\'s own origin only', async () => {
    const code = await linkCode();
    expect((await browser('POST', '/console/auth/link', { origin: 'https://evil.example' }, { code })).json['code']).toBe('TIQ_ERR_CSRF');
    const ok = await browser('POST', '/console/auth/link', { origin: origin() }, { code });
    expect(ok.json).toMatchObject({ actor: 'operator:olga', role: 'operator', tenant: null });
    expect(String([ok.headers['set-cookie']].flat()[0])).toMatch(/^__Host-thingiq-console=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    const again = await browser('POST', '/console/auth/link', { origin: origin() }, { code });
    expect([again.status, again.json['code']]).toEqual([401, 'TIQ_ERR_SIGN_IN_LINK']);
  });
});

describe('a console session', () => {
  it('reads with its cookie, and changes only with its CSRF token from its own origin', async () => {
    const s = await signIn();
    expect((await browser('GET', '/v1/tenants', { cookie: s.cookie })).status).toBe(200);
    const put = (h: Record<string, string>) => browser('PUT', '/v1/tenants/acme/devices/truck-1/private-mode', { cookie: s.cookie, ...h }, { on: true });
    expect((await put({ origin: origin() })).json['code']).toBe('TIQ_ERR_CSRF');
    expect((await put({ origin: origin(), 'x-csrf-token': 'x'.repeat(43) })).json['code']).toBe('TIQ_ERR_CSRF');
    expect((await put({ origin: 'https://localhost:1', 'x-csrf-token': s.csrf })).json['code']).toBe('TIQ_ERR_CSRF');
    expect((await put({ 'x-csrf-token': s.csrf })).json['code']).toBe('TIQ_ERR_CSRF');
    expect((await put({ origin: origin(), 'x-csrf-token': s.csrf, 'sec-fetch-site': 'same-site' })).json['code']).toBe('TIQ_ERR_CSRF');
    const ok = await put({ origin: origin(), 'x-csrf-token': s.csrf, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
    // Audited as the person, like the API.
    const entry = fx.deps.audit.query({ action: 'devices.private-mode.set', limit: 1000 }).at(-1)!;
    expect(entry).toMatchObject({ actor: 'operator:olga', result: 'ok' });
  });

  it('counts on the bearer listener only; a token in the same request wins; after sign-out it is refused', async () => {
    const s = await signIn();
    const reader = await fx.token({ roles: ['tenant-reader'], tenant: 'globex' });
    const withToken = await browser('GET', '/v1/tenants', { cookie: s.cookie, authorization: `Bearer ${reader}` });
    expect((withToken.json['tenants'] as { id: string }[]).map((t) => t.id)).toEqual(['globex']);
    const out = await browser('POST', '/console/auth/sign-out', { cookie: s.cookie, origin: origin(), 'x-csrf-token': s.csrf });
    expect(out.status).toBe(200);
    const after = await browser('GET', '/v1/tenants', { cookie: s.cookie });
    expect([after.status, after.json['code']]).toEqual([401, 'TIQ_ERR_SESSION_EXPIRED']);
    expect((await browser('GET', '/console/auth/session', { cookie: s.cookie })).json['code']).toBe('TIQ_ERR_SESSION_EXPIRED');
  });
});

describe('the overview', () => {
  it('streams snapshots as server-sent events, cut to a tenant caller\'s tenant', async () => {
    const reader = await fx.token({ roles: ['tenant-reader'], tenant: 'acme' });
    const first = await new Promise<{ type: string; data: Record<string, unknown> }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: fx.ports.port, path: '/v1/overview/stream?intervalMs=500', ca: fx.caPem, agent: false, headers: { authorization: `Bearer ${reader}` } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          const m = /event: snapshot\ndata: (.+)\n\n/.exec(text);
          if (m) { resolve({ type: String(res.headers['content-type']), data: JSON.parse(m[1]!) as Record<string, unknown> }); req.destroy(); }
        });
      });
      req.on('error', (e) => { if (!String(e).includes('socket hang up')) reject(e); });
      req.end();
    });
    expect(first.type).toMatch(/^text\/event-stream/);
    expect(Object.keys(first.data['tenants'] as object)).toEqual(['acme']);
    expect(first.data['gateway']).toBeUndefined();
    const operator = await fx.call('GET', '/v1/overview', op);
    expect(Object.keys(operator.json['tenants'] as object).sort()).toEqual(['acme', 'globex']);
    expect(operator.json['gateway']).toBeDefined();
    expect((await fx.call('GET', '/v1/overview/stream', {})).json['code']).toBe('TIQ_ERR_UNAUTHENTICATED');
  });
});

describe('the console\'s files', () => {
  it('are every route the RBAC matrix leaves out, and they exist', () => {
    for (const r of CONSOLE_ROUTES) expect(fx.server.routes()).toContain(r);
  });

  it('are served on the bearer listener with a strict CSP, never on the mTLS listener', async () => {
    const page = await browser('GET', '/console/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="app">');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(page.text)![1]!;
    expect((await browser('GET', script)).headers['content-type']).toMatch(/^text\/javascript/);
    expect((await browser('GET', '/console/../package.json')).status).toBe(404);
    expect((await browser('GET', '/console/nosuch.js')).json['code']).toBe('TIQ_ERR_NOT_FOUND');
    expect((await fx.call('GET', '/console/', op)).json['code']).toBe('TIQ_ERR_NOT_FOUND');
    expect((await browser('GET', '/console')).status).toBe(301);
    // No OAuth client configured in this fixture: the OAuth routes say so.
    expect((await browser('GET', '/console/auth/login')).json['code']).toBe('TIQ_ERR_NOT_FOUND');
  });
});
