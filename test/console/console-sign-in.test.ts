/**
 * Signing in to the console in Chromium: a one-time link (used once only),
 * OAuth with PKCE against a test issuer with and without multi-factor, a
 * tenant-reader's view, CSRF from another origin, sign-out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerConsoleCommand } from '../../src/cli/console-command.ts';
import { linkSignIn, mtls, newPage, oauthSignIn, shot, startRig, who, type ConsoleRig } from './console-fixture.ts';

let rig: ConsoleRig;
beforeAll(async () => { rig = await startRig(); }, 60_000);
afterAll(async () => { await rig?.close(); });

describe('console sign-in', { timeout: 30_000 }, () => {
  it('`thingiq console` prints a link that signs the browser in as the local operator, once', async () => {
    const config = join(rig.pki.baseDir, 'cli.yaml');
    writeFileSync(config, `dataDir: ${rig.pki.baseDir}/data\npkiDir: ${rig.pki.dir}\ntenants: {}\n`);
    let printed = '';
    const program = new Command('thingiq').exitOverride().option('-c, --config <file>');
    registerConsoleCommand(program, (t) => { printed += t; });
    await program.parseAsync(['node', 'thingiq', '--config', config, 'console']);
    const link = /https:\/\/\S+/.exec(printed)?.[0];
    expect(link).toMatch(/^https:\/\/(localhost|127\.0\.0\.1):\d+\/console\/#link=[A-Za-z0-9_-]{43}$/);

    const { context, page } = await newPage(rig);
    await page.goto(link!);
    await expect.poll(() => who(page)).toContain('operator:local');
    await shot(page, 'overview');
    // The fragment is gone from the address bar once used.
    expect(page.url()).not.toContain('link=');
    await context.close();

    const second = await newPage(rig);
    await second.page.goto(link!);
    await expect.poll(() => second.page.locator('.error .code').textContent()).toBe('TIQ_ERR_SIGN_IN_LINK');
    await expect(second.page.getByTestId('who').count()).resolves.toBe(0);
    await second.context.close();
  });

  it('the session cookie is httpOnly, Secure, SameSite=Strict and unreadable by the page; sign-out ends the session', async () => {
    const { context, page } = await linkSignIn(rig);
    await expect.poll(() => who(page)).toContain('operator:olga');
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: '__Host-thingiq-console', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    // The page's script cannot read it.
    expect(await page.evaluate('document.cookie')).toBe('');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByRole('heading', { name: /Sign in/ }).count()).toBe(1);
    const after = await page.evaluate(async () => (await fetch('/v1/tenants')).status);
    expect(after).toBe(401);
    await context.close();
  });
});

describe('console sign-in through OAuth (authorization code with PKCE)', { timeout: 30_000 }, () => {
  it('an operator without a second factor is told to step up; the step-up signs in', async () => {
    const { context, page } = await oauthSignIn(rig, { sub: 'opal', roles: ['operator'], mfaOnStepUp: true });
    await expect.poll(() => page.locator('.error .code').textContent()).toBe('TIQ_ERR_MFA_REQUIRED');
    await shot(page, 'sign-in-step-up');
    const first = rig.idp.authorizations.at(-1)!;
    expect(first.get('code_challenge_method')).toBe('S256');
    expect(first.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.get('acr_values')).toBeNull();
    await page.getByRole('link', { name: /second factor/ }).click();
    await expect.poll(() => who(page)).toContain('token:opal');
    expect(rig.idp.authorizations.at(-1)!.get('acr_values')).toBe('mfa');
    await context.close();
  });

  it('a tenant-admin signs in without a second factor (only operators need one)', async () => {
    const { context, page } = await oauthSignIn(rig, { sub: 'ada', roles: ['tenant-admin'], tenant: 'acme' });
    await expect.poll(() => who(page)).toContain('token:ada · tenant-admin');
    await context.close();
  });

  it('a callback whose state this browser was not given signs no one in', async () => {
    const { context, page } = await newPage(rig);
    await page.goto(`${rig.origin}/console/auth/callback?code=stolen&state=forged`);
    await expect.poll(() => page.locator('.error .code').textContent()).toBe('TIQ_ERR_OAUTH');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });
});

describe('a tenant-reader', { timeout: 30_000 }, () => {
  it('sees only its tenant, gets 404 for another, and has no control that changes state', async () => {
    expect((await mtls(rig, rig.operatorPem, 'POST', '/v1/tenants/acme/devices', { deviceId: 'truck-1' })).status).toBe(201);
    const { context, page } = await oauthSignIn(rig, { sub: 'rhea', roles: ['tenant-reader'], tenant: 'acme' });
    await expect.poll(() => who(page)).toContain('tenant-reader');
    await expect.poll(() => page.locator('header select option').allTextContents()).toEqual(['acme']);
    expect(await page.getByRole('link', { name: 'Audit' }).count()).toBe(0);
    const statusOf = (path: string) => page.evaluate(`fetch(${JSON.stringify(path)}).then(async (r) => [r.status, (await r.json()).code])`);
    expect(await statusOf('/v1/tenants/globex/devices')).toEqual([404, 'TIQ_ERR_NOT_FOUND']);
    expect(await statusOf('/v1/tenants/nosuch/devices')).toEqual([404, 'TIQ_ERR_NOT_FOUND']);
    // The overview is cut down to the reader's tenant: no other tenant, no gateway-wide figures.
    const overview = await page.evaluate(`fetch('/v1/overview').then((r) => r.json())`) as { tenants: Record<string, unknown>; gateway?: unknown };
    expect(Object.keys(overview.tenants)).toEqual(['acme']);
    expect(overview.gateway).toBeUndefined();

    await page.getByRole('link', { name: 'Tenants and devices' }).click();
    await page.getByRole('button', { name: 'truck-1' }).click();
    await expect.poll(() => page.getByTestId('restriction').textContent()).toBe('none');
    await shot(page, 'devices-reader');
    for (const name of ['Register', /Revoke/, /Issue/, /private mode/, /hold/]) expect(await page.getByRole('button', { name }).count(), String(name)).toBe(0);
    expect(await page.locator('#restriction-mode').count()).toBe(0);
    await page.getByRole('link', { name: 'Privacy' }).click();
    await expect.poll(() => page.getByTestId('in-force').textContent()).not.toBe('');
    expect(await page.locator('#policy-yaml').getAttribute('readonly')).not.toBeNull();
    expect(await page.getByRole('button', { name: /Publish/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Keys and retention' }).click();
    expect(await page.getByRole('button', { name: /Rotate|Re-wrap|Shred|Sweep|Set rule/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Data-subject requests' }).click();
    await page.getByLabel(/Device/).fill('truck-1');
    expect(await page.getByRole('button', { name: /Access|Restrict|Erase|objection/ }).count()).toBe(0);
    // Not only hidden: the API refuses the reader as it would refuse its token.
    const put = await page.evaluate(`fetch('/v1/tenants/acme/devices/truck-1/private-mode', { method: 'PUT', headers: { 'content-type': 'application/json', 'x-csrf-token': 'x' }, body: '{"on":true}' }).then((r) => r.status)`);
    expect(put).toBe(403);
    await context.close();
  });
});

describe('CSRF', { timeout: 30_000 }, () => {
  it('a form on another origin that posts to the API with the session cookie is refused, and so is a same-origin change without the token', async () => {
    expect((await mtls(rig, rig.operatorPem, 'POST', '/v1/tenants/acme/devices/csrf-1/certificates', {})).status).toBe(201);
    const { context, page } = await linkSignIn(rig);
    await expect.poll(() => who(page)).toContain('operator:olga');
    // Another port of localhost: same site (ports do not count), so SameSite alone would not stop it.
    rig.idp.pages.set('/evil', `<form id="f" method="POST" enctype="text/plain" action="${rig.origin}/v1/tenants/acme/devices/csrf-1/revoke"><input name='{"a":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    await page.goto(`${rig.idp.url}/evil`);
    await page.waitForURL(/\/revoke$/);
    expect(JSON.parse(await page.locator('body').innerText())).toMatchObject({ code: 'TIQ_ERR_CSRF' });
    await page.goto(`${rig.origin}/console/`);
    const noToken = await page.evaluate(`fetch('/v1/tenants/acme/devices/csrf-1/revoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => [r.status, (await r.json()).code])`);
    expect(noToken).toEqual([403, 'TIQ_ERR_CSRF']);
    const devices = await mtls(rig, rig.operatorPem, 'GET', '/v1/tenants/acme/devices?q=csrf-1');
    expect((devices.json['devices'] as { certificates: { status: string }[] }[])[0]!.certificates.map((c) => c.status)).toEqual(['active']);
    await context.close();
  });
});
