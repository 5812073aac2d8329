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
import { newPage, shot, signInLink, startRig, type ConsoleRig } from './console-fixture.ts';

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
    await expect.poll(() => page.getByTestId('who').textContent()).toContain('operator:local');
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
    const { context, page } = await newPage(rig);
    await page.goto(await signInLink(rig));
    await expect.poll(() => page.getByTestId('who').textContent()).toContain('operator:olga');
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
