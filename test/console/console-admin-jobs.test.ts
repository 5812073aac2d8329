/**
 * The rest of the CLI's jobs in the console, in Chromium, against a running
 * gateway: apps with grants and their certificates (a signed CSR; the downloaded bundle
 * subscribes with mosquitto_sub over verified TLS), device groups, a backup
 * checked against its digest, a retention sweep, a key rotation and re-wrap; and a tenant-reader's view
 * of the apps page, without a control that changes state.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connect } from '../helpers/gateway.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { oauthSignIn, OperatorConsole, pemBlocks, shot, who, type ConsoleRig } from './console-fixture.ts';

if (spawnSync('mosquitto_sub', ['--help']).error !== undefined) throw new Error('mosquitto-clients are required (.ci/run installs them)');

let operator: OperatorConsole;
let rig: ConsoleRig;
let page: Page;

beforeAll(async () => { operator = await OperatorConsole.start(); ({ rig, page } = operator); }, 60_000);
afterAll(async () => { await operator?.close(); });

const rowsOf = (testId: string) => page.getByTestId(testId).locator('tbody tr td:first-child').allTextContents();

describe('console admin jobs', { timeout: 30_000 }, () => {
  it('creates a device group and an app granted to it; the group cannot go while the grant names it; both are deleted', async () => {
    await page.getByRole('link', { name: 'Apps and device groups' }).click();
    await page.getByLabel('Group id').fill('vans');
    await page.getByLabel(/Member devices/).fill('van-1, van-2\nvan-3');
    await page.getByRole('button', { name: 'Save group' }).click();
    await expect.poll(() => page.getByTestId('device-groups').locator('tbody tr', { hasText: 'vans' }).textContent()).toContain('van-1, van-2, van-3');

    await page.getByLabel('App id').fill('fleet-view');
    await page.getByLabel(/Granted streams/).fill('location');
    await page.getByLabel(/Granted device groups/).fill('vans');
    await page.getByLabel('Device lifecycle events').check();
    await page.getByRole('button', { name: 'Save app' }).click();
    const row = page.getByTestId('apps').locator('tbody tr', { hasText: 'fleet-view' });
    await expect.poll(() => row.locator('td').allTextContents()).toEqual(['fleet-view', 'location', 'vans', 'yes', 'Edit']);
    // A grant naming a stream the tenant does not have: the API's code, shown.
    await page.getByLabel(/Granted streams/).fill('nosuch');
    await page.getByRole('button', { name: 'Save app' }).click();
    await expect.poll(() => page.locator('form[aria-label="create or update an app"] .error .code').textContent()).toBe('TIQ_ERR_BAD_REQUEST');
    await shot(page, 'apps');

    await page.getByRole('button', { name: 'delete device group vans' }).click();
    await expect.poll(() => page.getByTestId('device-groups').locator('.error .code').textContent()).toBe('TIQ_ERR_CONFLICT');
    await page.getByLabel('App', { exact: true }).first().selectOption('fleet-view');
    await page.getByLabel(/Type fleet-view to confirm/).fill('fleet-view');
    await page.getByRole('button', { name: 'Delete app' }).click();
    await expect.poll(() => rowsOf('apps')).not.toContain('fleet-view');
    await page.getByRole('button', { name: 'delete device group vans' }).click();
    await expect.poll(() => rowsOf('device-groups')).not.toContain('vans');
    // With the keyboard alone: Tab from the group id to the members, to the button, Enter.
    await page.getByLabel('Group id').focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('buses');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('bus-1');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => rowsOf('device-groups')).toContain('buses');
    await page.getByRole('button', { name: 'delete device group buses' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => rowsOf('device-groups')).not.toContain('buses');
  });

  it('issues an app certificate as a bundle, and mosquitto_sub subscribes with it over verified TLS to the granted stream', async () => {
    await page.getByLabel('App id').fill('console-app');
    await page.getByLabel(/Granted streams/).fill('location');
    await page.getByLabel(/Granted device groups/).fill('');
    await page.getByRole('button', { name: 'Save app' }).click();
    await expect.poll(() => rowsOf('apps')).toContain('console-app');
    await page.locator('#cert-app').selectOption('console-app');
    await page.locator('#cert-key-type').selectOption('ec');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Issue app bundle' }).click()]);
    const [cert, ca, key] = pemBlocks(readFileSync(await download.path(), 'utf8'));
    expect(key).toMatch(/BEGIN (EC )?PRIVATE KEY/);
    const dir = rig.pki.baseDir;
    writeFileSync(join(dir, 'console-app.crt'), cert!);
    writeFileSync(join(dir, 'console-app-ca.crt'), ca!);
    writeFileSync(join(dir, 'console-app.key'), key!, { mode: 0o600 });

    const sub = operator.mosquitto('mosquitto_sub', ['-h', 'localhost', '-p', String(rig.gw.port), '--cafile', join(dir, 'console-app-ca.crt'),
      '--cert', join(dir, 'console-app.crt'), '--key', join(dir, 'console-app.key'), '-i', 'console-app-sub', '-V', 'mqttv311', '-d',
      '-t', 'tenants/acme/devices/bus-1/location', '-C', '1', '-W', '15', '-F', 'TOPIC %t']);
    await expect.poll(() => sub.output(), { timeout: 8000 }).toContain('SUBACK');
    const bus = await connect(rig.gw.port, rig.pki.device('acme', 'bus-1'), { clientId: 'bus-1' });
    operator.clients.push(bus);
    await bus.publishAsync('tenants/acme/devices/bus-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await sub.closed).toBe(0);
    expect(sub.output()).toContain('TOPIC tenants/acme/devices/bus-1/location');
  });

  it('signs a pasted app CSR: the certificate carries the CSR\'s key and the download holds no private key', async () => {
    const dir = rig.pki.baseDir;
    const keyFile = join(dir, 'console-app-csr.key');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-subj', '/CN=console-app', '-out', join(dir, 'console-app.csr')], { stdio: 'ignore' });
    await page.locator('#cert-app').selectOption('console-app');
    await page.getByLabel(/PEM certificate signing request/).fill(readFileSync(join(dir, 'console-app.csr'), 'utf8'));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Sign app CSR' }).click()]);
    const text = readFileSync(await download.path(), 'utf8');
    expect(text).not.toMatch(/PRIVATE KEY/);
    const cert = new X509Certificate(text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(createPublicKey(createPrivateKey(readFileSync(keyFile))).export({ type: 'spki', format: 'der' }));
    expect(cert.subjectAltName).toContain('acme');
    await expect.poll(() => page.getByTestId('app-serial').textContent()).toBe(cert.serialNumber.replace(/^0+/, '').toLowerCase());
  });

  it('revokes the app\'s certificates after a typed confirmation, and its bundle no longer connects', async () => {
    await page.locator('#revoke-app').selectOption('console-app');
    await page.getByLabel(/Type console-app to confirm/).fill('console-app');
    await page.getByRole('button', { name: 'Revoke the app\'s certificates' }).click();
    await expect.poll(() => page.getByTestId('app-revoked').textContent()).toBe('Revoked 2 certificate(s).');
    const dir = rig.pki.baseDir;
    const again = spawnSync('mosquitto_sub', ['-h', 'localhost', '-p', String(rig.gw.port), '--cafile', join(dir, 'console-app-ca.crt'), '--cert', join(dir, 'console-app.crt'),
      '--key', join(dir, 'console-app.key'), '-i', 'console-app-again', '-V', 'mqttv311', '-t', 'tenants/acme/devices/bus-1/location', '-C', '1', '-W', '5'], { timeout: 10_000 });
    expect(again.status).not.toBe(0);
    expect(again.status).not.toBe(27); // 27: mosquitto_sub's -W timeout, i.e. it connected and waited
  });

  it('creates a backup, downloads it, and shows its size and a digest that matches the file', async () => {
    await page.getByRole('link', { name: 'Backups and sweeps' }).click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Create a backup' }).click()]);
    const file = await download.path();
    const cells = page.getByTestId('backups').locator('tbody tr').first().locator('td');
    await expect.poll(() => cells.count()).toBe(5);
    const [, , bytes, sha, check] = await cells.allTextContents();
    expect(Number(bytes)).toBe(statSync(file).size);
    expect(sha).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(check).toBe('matches');
  });

  it('runs the retention sweep and shows its result and the sweeper status', async () => {
    await expect.poll(() => page.getByTestId('sweeper-status').textContent()).toMatch(/^Sweeper: every \d+ min; /);
    await page.getByRole('button', { name: 'Sweep expired records now' }).click();
    await expect.poll(() => page.getByTestId('sweep-result').locator('caption').textContent()).toMatch(/^Last sweep: \d+ record\(s\) deleted, \d+ partition\(s\) dropped$/);
    await expect.poll(() => page.getByTestId('sweeper-status').textContent()).toMatch(/last sweep \d{4}-\d\d-\d\dT\S+ deleted \d+ record\(s\), dropped \d+ partition\(s\) in \d+ ms; next about \d{4}-/);
    await shot(page, 'operations');
  });

  it('rotates the tenant key and re-wraps the stored data keys under it, showing the counts', async () => {
    await page.getByRole('link', { name: 'Keys and retention' }).click();
    await page.getByRole('button', { name: 'Rotate the tenant key' }).click();
    await expect.poll(() => page.locator('.actions ~ pre.json[role="status"]').count()).toBe(1);
    await page.getByRole('button', { name: 'Re-wrap data keys' }).click();
    // bus-1's message (above) sealed a data key; the rotation moved its device's key under the new tenant key.
    await expect.poll(() => page.getByTestId('rewrap-result').textContent()).toMatch(/^Scanned [1-9]\d*, re-wrapped \d+, skipped \d+.*; primary local:acme:v2; cursor \S+\.$/);
    // --all: every key again, whatever it is under.
    await page.getByLabel(/Also those already under the primary/).check();
    await page.getByRole('button', { name: 'Re-wrap data keys' }).click();
    await expect.poll(async () => {
      const text = await page.getByTestId('rewrap-result').textContent() ?? '';
      return Number(/re-wrapped (\d+), skipped/.exec(text)?.[1] ?? 0) + Number(/device keys re-wrapped (\d+)/.exec(text)?.[1] ?? 0);
    }).toBeGreaterThan(0);
  });

  it('creates a provisioning claim with its bundle, revokes it, and exports the tenant\'s stored records', async () => {
    await page.getByRole('link', { name: 'Provisioning and records' }).click();
    await page.getByLabel('Claim id').fill('line-1');
    await page.getByLabel(/Device id pattern/).fill('van-*');
    await page.getByLabel('How many devices').fill('5');
    const [bundle] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Create the claim and download its bundle' }).click()]);
    const pem = readFileSync(await bundle.path(), 'utf8');
    expect(pem).toContain('BEGIN CERTIFICATE');
    expect(pem).toMatch(/BEGIN (EC )?PRIVATE KEY/);
    const claimRow = page.getByTestId('claims').locator('tbody tr', { hasText: 'line-1' });
    await expect.poll(() => claimRow.locator('td').allTextContents()).toEqual(['line-1', 'van-*', '-', '0 / 5', expect.stringMatching(/^\d{4}-/), 'active']);

    await page.getByLabel('Claim', { exact: true }).selectOption('line-1');
    await page.getByLabel(/Type line-1 to confirm/).fill('line-1');
    await page.getByRole('button', { name: 'Revoke the claim' }).click();
    await expect.poll(() => page.getByTestId('claim-revoked').textContent()).toContain('line-1');
    await expect.poll(() => claimRow.locator('td').last().textContent()).toBe('revoked');

    const [records] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export records' }).click()]);
    const lines = readFileSync(await records.path(), 'utf8').split('\n').filter(Boolean);
    // bus-1 published above: its record is there, decrypted; the page says how many it wrote.
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ deviceId: expect.any(String) });
    await expect.poll(() => page.getByTestId('records-exported').textContent()).toBe(`${lines.length} record(s) exported to acme-records.ndjson.`);
    await shot(page, 'fleet');
  });

  it('shows a tenant-reader the apps and groups with no control that changes state, and no backups page', async () => {
    const { context, page: reader } = await oauthSignIn(rig, { sub: 'rhea', roles: ['tenant-reader'], tenant: 'acme' });
    try {
      await expect.poll(() => who(reader)).toContain('tenant-reader');
      expect(await reader.getByRole('link', { name: 'Backups and sweeps' }).count()).toBe(0);
      await reader.getByRole('link', { name: 'Apps and device groups' }).click();
      await expect.poll(() => reader.getByTestId('apps').locator('tbody tr td:first-child').allTextContents()).toContain('console-app');
      await expect.poll(() => reader.getByTestId('device-groups').locator('tbody tr td:first-child').allTextContents()).toContain('trucks');
      expect(await reader.getByRole('button').filter({ hasNotText: 'Sign out' }).filter({ hasNotText: 'Skip to content' }).count()).toBe(0);
      expect(await reader.locator('main input, main textarea, main select').count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
