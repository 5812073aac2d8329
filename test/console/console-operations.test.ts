/**
 * Operator jobs in the console, in Chromium, against a running gateway:
 * issue a device certificate (bundle download) and revoke it, cutting the
 * device's live mosquitto session; edit a policy with a live preview,
 * publish it and see the next message coarsened; shred keys with a receipt;
 * the audit chain verified from its page. Screenshots of each page.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connect, subscribe } from '../helpers/gateway.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { OperatorConsole, pemBlocks, shot, type ConsoleRig } from './console-fixture.ts';

if (spawnSync('mosquitto_pub', ['--help']).error !== undefined) throw new Error('mosquitto-clients are required (.ci/run installs them)');

let operator: OperatorConsole;
let rig: ConsoleRig;
let page: Page;

beforeAll(async () => { operator = await OperatorConsole.start(); ({ rig, page } = operator); }, 60_000);
afterAll(async () => { await operator?.close(); });

const mosquitto = (cmd: string, args: string[]) => operator.mosquitto(cmd, args);

describe('console operations', { timeout: 40_000 }, () => {
  it('issues a device certificate as a bundle, and revoking it in the console cuts the device\'s live mosquitto session', async () => {
    await page.getByRole('link', { name: 'Tenants and devices' }).click();
    await page.getByLabel('Register device').fill('truck-7');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('button', { name: 'truck-7' }).click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Issue and download bundle' }).click()]);
    const bundle = readFileSync(await download.path(), 'utf8');
    const [cert, ca, key] = pemBlocks(bundle);
    expect(key).toMatch(/PRIVATE KEY/);
    const dir = rig.pki.baseDir;
    writeFileSync(join(dir, 'truck-7.crt'), cert!);
    writeFileSync(join(dir, 'truck-7-ca.crt'), ca!);
    writeFileSync(join(dir, 'truck-7.key'), key!, { mode: 0o600 });
    await expect.poll(() => page.getByTestId('certificates').locator('tbody tr').count()).toBe(1);
    await shot(page, 'devices');

    const app = rig.pki.app('acme', 'dashboard');
    const tls = (certFile: string, keyFile: string, caFile: string, id: string) => ['-h', 'localhost', '-p', String(rig.gw.port), '--cafile', caFile, '--cert', certFile, '--key', keyFile, '-i', id, '-V', 'mqttv311'];
    const sub = mosquitto('mosquitto_sub', [...tls(app.certPath, app.keyPath, app.caPath, 'dash'), '-t', 'tenants/acme/devices/truck-7/#', '-F', '%t']);
    await new Promise((r) => setTimeout(r, 500));
    const device = mosquitto('mosquitto_pub', [...tls(join(dir, 'truck-7.crt'), join(dir, 'truck-7.key'), join(dir, 'truck-7-ca.crt'), 'truck-7'), '-q', '1', '-t', 'tenants/acme/devices/truck-7/location', '-l', '-d']);
    device.child.stdin.write(`${JSON.stringify({ sequence: 1, latitude: 52.5, longitude: 13.4, timeUnixMs: Date.now() })}\n`);
    await expect.poll(() => sub.output(), { timeout: 8000 }).toContain('tenants/acme/devices/truck-7/location');

    const seen = device.output().length;
    await page.getByRole('button', { name: 'Revoke certificates…' }).click();
    await page.getByLabel(/Type truck-7 to confirm/).fill('truck-7');
    await page.getByRole('button', { name: 'Revoke every certificate' }).click();
    await expect.poll(() => page.getByTestId('revoked').textContent()).toContain('Revoked 1 certificate');
    // The gateway closes the device's session: mosquitto_pub sees its TLS connection end (and cannot come back, below).
    await expect.poll(() => device.output().slice(seen), { timeout: 8000 }).toMatch(/unexpected eof|connection lost|Error/i);
    const before = sub.output().split('\n').filter(Boolean).length;
    device.child.stdin.write(`${JSON.stringify({ sequence: 2, latitude: 52.6, longitude: 13.5, timeUnixMs: Date.now() })}\n`);
    await new Promise((r) => setTimeout(r, 1000));
    expect(sub.output().split('\n').filter(Boolean)).toHaveLength(before);
    const again = mosquitto('mosquitto_pub', [...tls(join(dir, 'truck-7.crt'), join(dir, 'truck-7.key'), join(dir, 'truck-7-ca.crt'), 'truck-7b'), '-q', '1', '-t', 'tenants/acme/devices/truck-7/location', '-m', '{}']);
    expect(await again.closed).not.toBe(0);
    await expect.poll(() => page.getByTestId('certificates').locator('tbody tr td:nth-child(2)').allTextContents()).toEqual(['revoked']);
  });

  it('edits a policy with validation and a preview that changes as you type, publishes it, and the next message is coarsened', async () => {
    const appClient = await connect(rig.gw.port, rig.pki.app('acme', 'dashboard'), { clientId: 'dash-mqtt' });
    const car = await connect(rig.gw.port, rig.pki.device('acme', 'car-9'), { clientId: 'car-9' });
    operator.clients.push(appClient, car);
    const sub = await subscribe(appClient, 'tenants/acme/devices/car-9/location');

    await page.getByRole('link', { name: 'Privacy' }).click();
    await expect.poll(() => page.getByTestId('in-force').textContent()).toBe('no policy');
    const editor = page.getByLabel('Policy (YAML)');
    await editor.fill('policyId: console\nversion: 5\ndefaults:\n  "*": { action: keep }\n');
    await expect.poll(() => page.getByTestId('preview-summary').locator('caption').textContent()).toBe('After the policy: 40 distinct positions of 40 points');
    await editor.fill('policyId: console\nversion: 5\ndefaults:\n  "*": { action: teleport }\n');
    await expect.poll(() => page.getByTestId('policy-check').locator('.code').allTextContents()).toContain('TIQ_ERR_POLICY_INVALID');
    expect(await page.getByRole('button', { name: 'Publish this version' }).isDisabled()).toBe(true);
    await editor.fill('policyId: console\nversion: 5\ndefaults:\n  "*": { action: keep }\n  location:\n    action: coarsen\n    coarsen: { method: grid, cellM: 2000 }\n');
    await expect.poll(() => page.getByTestId('policy-check').textContent()).toContain('Valid.');
    await expect.poll(async () => Number(/(\d+) distinct/.exec(await page.getByTestId('preview-summary').locator('caption').textContent() ?? '')?.[1])).toBeLessThan(10);
    expect(await page.getByTestId('after-point').count()).toBe(40);
    await shot(page, 'privacy');
    await page.getByRole('button', { name: 'Publish this version' }).click();
    await expect.poll(() => page.getByTestId('in-force').textContent()).toBe('console version 5');

    const sent = vehicle({ latitude: 52.516275, longitude: 13.377704 });
    await car.publishAsync('tenants/acme/devices/car-9/location', encode(VEHICLE, sent), { qos: 1 });
    const [msg] = await sub.next(1);
    const body = decode(VEHICLE, msg!.payload);
    expect(body['appliedPolicy']).toMatchObject({ policyId: 'console', version: 5, locationAction: 'coarsen' });
    expect(body['latitude']).not.toBe(sent['latitude']);
    expect(Math.abs(Number(body['latitude']) - 52.516275)).toBeLessThan(0.05);

    // The device's stored points, decrypted by the gateway, previewed under the policy being edited.
    const stored = page.getByLabel(/last 200 stored points/);
    await stored.fill('car-9');
    await stored.press('Enter');
    await expect.poll(() => page.getByTestId('preview-summary').locator('caption').textContent()).toBe('After the policy: 1 distinct positions of 1 points');
  });

  it('shreds a device\'s keys after a typed confirmation and shows the receipt', async () => {
    const van = await connect(rig.gw.port, rig.pki.device('acme', 'van-3'), { clientId: 'van-3' });
    operator.clients.push(van);
    await van.publishAsync('tenants/acme/devices/van-3/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await page.getByRole('link', { name: 'Keys and retention' }).click();
    await page.getByLabel('Device', { exact: true }).fill('van-3');
    const button = page.getByRole('button', { name: 'Shred keys' });
    expect(await button.isDisabled()).toBe(true);
    await page.getByLabel(/Type van-3 to confirm/).fill('van-');
    expect(await button.isDisabled()).toBe(true);
    await page.getByLabel(/Type van-3 to confirm/).fill('van-3');
    await button.click();
    const receipt = page.getByTestId('shred-receipt');
    await expect.poll(() => receipt.textContent()).toMatch(/Receipt \S+: [1-9]\d* data key\(s\) destroyed/);
    await shot(page, 'keys');
    const [download] = await Promise.all([page.waitForEvent('download'), receipt.getByRole('button', { name: 'Download the receipt' }).click()]);
    const saved = JSON.parse(readFileSync(await download.path(), 'utf8')) as { receiptId: string; destroyedCount: number };
    expect(await receipt.textContent()).toContain(saved.receiptId);
    expect(saved.destroyedCount).toBeGreaterThan(0);
  });

  it('shows the audit log with the console\'s actions under the person\'s name, and verifies the chain', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByLabel('Actor').fill('operator:olga');
    const actions = () => page.getByTestId('audit-entries').locator('tbody td:nth-child(5)').allTextContents();
    await expect.poll(actions).toEqual(expect.arrayContaining(['console.sign-in', 'devices.revoke', 'privacy.put', 'keys.shred']));
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await expect.poll(() => page.getByTestId('audit-verify').textContent()).toMatch(/^Chain intact/);
    await shot(page, 'audit');
    await page.getByRole('link', { name: 'Data-subject requests' }).click();
    await page.getByLabel(/Device/).fill('van-3');
    await expect.poll(() => page.locator('table caption').allTextContents()).toContain('Past requests (audit log)');
    await shot(page, 'subjects');
    await page.getByRole('link', { name: 'Overview' }).click();
    // Live figures from the server-sent events: the MQTT clients this test connected, messages stored.
    await expect.poll(async () => Number(/Connections: (\d+)/.exec(await page.getByTestId('overview').textContent() ?? '')?.[1])).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.getByTestId('overview').locator('tbody tr th').allTextContents()).toEqual(expect.arrayContaining(['acme', 'globex']));
    const refusals = await page.getByRole('table', { name: 'Refusals by code' }).textContent();
    expect(refusals).toMatch(/TIQ_ERR_|none/);
    await shot(page, 'overview-operator');
  });

  it('labels every control on every page and can be used with the keyboard alone', async () => {
    const unlabelled = "[...document.querySelectorAll('input,select,textarea')].filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.outerHTML)";
    for (const name of ['Overview', 'Tenants and devices', 'Apps and device groups', 'Privacy', 'Keys and retention', 'Data-subject requests', 'Audit', 'Backups and sweeps']) {
      await page.getByRole('link', { name }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe(name);
      expect(await page.evaluate(unlabelled), name).toEqual([]);
    }
    // From the top of the page, Tab reaches the navigation and Enter opens a page.
    await page.goto(`${rig.origin}/console/#/overview`);
    await page.locator('h1').filter({ hasText: 'Overview' }).waitFor();
    let focused = '';
    for (let i = 0; i < 12 && focused !== 'Privacy'; i++) {
      await page.keyboard.press('Tab');
      focused = String(await page.evaluate('document.activeElement ? document.activeElement.textContent : ""'));
    }
    expect(focused).toBe('Privacy');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Privacy');
  });
});
