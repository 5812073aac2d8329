/**
 * A real gateway with its console, a test OIDC issuer, and Debian's Chromium
 * driven by playwright-core. TLS stays verified end to end: Chromium trusts
 * the run's two CAs (the gateway's and the issuer's) through an NSS database
 * in a per-run HOME, the way a person adds a CA on Linux; it is never told
 * to ignore certificate errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { AUDIENCE, CLIENT_ID, OidcProvider } from './oidc-provider.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each page: test artifacts, git-ignored. */
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'console');

export interface ConsoleRig {
  readonly pki: TestPki;
  readonly idp: OidcProvider;
  readonly gw: Awaited<ReturnType<typeof startGateway>>;
  readonly browser: Browser;
  /** https://localhost:<bearer port> */
  readonly origin: string;
  readonly operatorPem: ClientPem;
  close(): Promise<void>;
}

function trustStore(home: string, cas: Record<string, string>): void {
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password'], { stdio: 'ignore' });
  for (const [name, pem] of Object.entries(cas)) {
    const file = join(home, `${name}.crt`);
    writeFileSync(file, pem);
    // "C,,": a CA trusted to issue server certificates, nothing else.
    execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', name, '-i', file], { stdio: 'ignore' });
  }
}

export async function startRig(): Promise<ConsoleRig> {
  const pki = new TestPki();
  const idp = new OidcProvider(pki.baseDir);
  await idp.start();
  const gw = await startGateway(pki, {
    admin: {
      port: 0, mtlsPort: 0, host: '127.0.0.1',
      oauth: { issuer: idp.issuer, audience: AUDIENCE, jwksFile: idp.jwksFile },
      console: { oauth: { clientId: CLIENT_ID, authorizationEndpoint: `${idp.url}/authorize`, tokenEndpoint: `${idp.url}/token`, caFile: idp.caFile } },
    },
  });
  const home = mkdtempSync(join(tmpdir(), 'thingiq-chromium-'));
  trustStore(home, { 'thingiq-gateway-ca': pki.caPem, 'thingiq-idp-ca': idp.caPem });
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true, timeout: 30_000,
    // --no-sandbox: Chromium's own process sandbox cannot start as root (CI containers); it has nothing to do with TLS.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
    env: { ...process.env, HOME: home },
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    pki, idp, gw, browser, operatorPem: pki.operator('olga'),
    origin: `https://localhost:${gw.gateway.adminPorts.port}`,
    async close() {
      await browser.close().catch(() => undefined);
      await gw.gateway.close();
      await idp.close();
    },
  };
}

export async function newPage(rig: ConsoleRig): Promise<{ context: BrowserContext; page: Page }> {
  const context = await rig.browser.newContext({ ignoreHTTPSErrors: false, acceptDownloads: true, viewport: { width: 1366, height: 900 } });
  context.setDefaultTimeout(10_000);
  return { context, page: await context.newPage() };
}

/** The admin API over mutual TLS, as a client certificate sees it. */
export function mtls(rig: ConsoleRig, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: rig.gw.gateway.adminPorts.mtlsPort, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) as Record<string, unknown> : {} }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** A one-time sign-in link for the operator certificate, as `thingiq console` gets it. */
export async function signInLink(rig: ConsoleRig): Promise<string> {
  const r = await mtls(rig, rig.operatorPem, 'POST', '/v1/console/sign-in-links', {});
  if (r.status !== 201) throw new Error(`sign-in link: ${r.status} ${JSON.stringify(r.json)}`);
  return `${rig.origin}${String(r.json['path'])}`;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
