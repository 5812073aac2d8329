/**
 * A real gateway with its console, a test OIDC issuer, and Debian's Chromium
 * driven by playwright-core. TLS stays verified end to end: Chromium trusts
 * the run's two CAs (the gateway's and the issuer's) through an NSS database
 * in a per-run HOME, the way a person adds a CA on Linux; it is never told
 * to ignore certificate errors.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { adminCall } from '../helpers/admin-call.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { AUDIENCE, CLIENT_ID, OidcProvider, type TestUser } from './oidc-provider.ts';

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
export async function mtls(rig: ConsoleRig, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const answer = await adminCall(rig.gw.gateway.adminPorts.mtlsPort, { ca: pem.ca, cert: pem.cert, key: pem.key }, method, path, body);
  return { status: answer.status, json: answer.text ? answer.json() : {} };
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

/** The signed-in person the console's header names (its `who` element). */
export function who(page: Page): Promise<string | null> {
  return page.getByTestId('who').textContent();
}

/** A fresh page that opened a one-time sign-in link for the operator certificate (olga). */
export async function linkSignIn(rig: ConsoleRig): Promise<{ context: BrowserContext; page: Page }> {
  const p = await newPage(rig);
  await p.page.goto(await signInLink(rig));
  return p;
}

/** A fresh page that chose "Sign in with your organisation", the test issuer signing in `user`. */
export async function oauthSignIn(rig: ConsoleRig, user: TestUser): Promise<{ context: BrowserContext; page: Page }> {
  rig.idp.nextUser = user;
  const p = await newPage(rig);
  await p.page.goto(`${rig.origin}/console/`);
  await p.page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  return p;
}

/** The PEM blocks of a downloaded bundle, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];
}

/**
 * The rig with one page signed in as the operator olga (the starting point
 * of the operator-job tests), and the mosquitto processes and MQTT clients
 * the tests start, all stopped by close().
 */
export class OperatorConsole {
  readonly children: ChildProcessWithoutNullStreams[] = [];
  readonly clients: MqttClient[] = [];

  private constructor(readonly rig: ConsoleRig, readonly context: BrowserContext, readonly page: Page) {}

  static async start(): Promise<OperatorConsole> {
    const rig = await startRig();
    try {
      const { context, page } = await linkSignIn(rig);
      await page.getByTestId('who').filter({ hasText: 'operator:olga' }).waitFor();
      return new OperatorConsole(rig, context, page);
    } catch (err) {
      await rig.close();
      throw err;
    }
  }

  /** A long-lived mosquitto client; `closed` resolves when it exits. Line-buffered (stdbuf): its output is read while it runs. */
  mosquitto(cmd: string, args: string[]) {
    const child = spawn('stdbuf', ['-oL', '-eL', cmd, ...args]);
    this.children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    return { child, closed, output: () => out };
  }

  async close(): Promise<void> {
    for (const c of this.children) c.kill();
    for (const c of this.clients) c.end(true);
    await this.context.close();
    await this.rig.close();
  }
}
