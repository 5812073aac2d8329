/**
 * Backup and restore end to end: a real gateway (port 0, certificates made
 * for the run, real MQTT clients) and the real `thingiq` command as child
 * processes. The key store (keyring and root key) lives outside the data
 * directory, as docs/operations.md asks for production.
 *
 * - backup → erase a device through the API → restore: the device stays
 *   erased, the others are readable;
 * - backup → lose the whole data directory → restore: every acknowledged
 *   record is back and decrypts, retention rules and legal holds hold;
 * - restore refuses a live data directory, and a non-empty one without --force;
 * - the CLI's verify refuses a damaged file and a wrong root key.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT, decryptedLines, publish } from '../cli/cli-helpers.ts';
import { runCli } from '../cli/run-cli.ts';
import { backupRig } from './backup-rig.ts';

describe('backup and restore with a running gateway and the thingiq command', () => {
  const { pki, base, dataDir, keys, configFile, cli } = backupRig();
  const b1 = join(base, 'before-erasure.tiqbak');
  const b2 = join(base, 'full.tiqbak');
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let op: ClientPem;
  const published: Record<string, number> = {};
  const api = (method: string, path: string, body?: unknown) => call(gw!.gateway.adminPorts.mtlsPort, op, method, path, body);
  const start = async () => { gw = await startGateway(pki, { keys }); };
  const stop = async () => { await gw?.gateway.close(); gw = undefined; };
  const send = async (device: string, n: number) => {
    await publish(gw!.port, pki.device('acme', device), device, n);
    published[device] = (published[device] ?? 0) + n;
  };

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, keys }));
    op = pki.operator('olga');
    await start();
    await send('truck-1', 3);
    await send('truck-2', 3);
    await send('truck-3', 2);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: true })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/acme/retention/rules', { stream: 'location', days: 30, retentionClass: 'loc-30d' })).status).toBe(200);
  }, 60_000);
  afterAll(stop);

  it('backup create goes through the running gateway, is audited with the local operator, and holds no key-store bytes', async () => {
    const r = await cli('backup', 'create', '--out', b1, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ via: 'gateway' });
    expect(r.stderr).not.toMatch(/warning/); // the key store is outside the data directory
    expect(statSync(b1).mode & 0o777).toBe(0o600);
    const entry = (await gw!.gateway.admin!.audit.query({ action: 'backup.create', limit: 10 })).find((e) => e.result === 'ok');
    expect(entry).toMatchObject({ actor: 'operator:local', role: 'operator' });
    const file = readFileSync(b1);
    const rootKey = readFileSync(keys.local.rootKeyFile, 'utf8').trim();
    const keyring = JSON.parse(readFileSync(keys.local.keyringFile, 'utf8')) as { ciphertext: string };
    for (const secret of [Buffer.from(rootKey), Buffer.from(rootKey, 'base64'), Buffer.from(keyring.ciphertext), Buffer.from(keyring.ciphertext, 'base64').subarray(0, 32)]) {
      expect(file.includes(secret)).toBe(false);
    }
  }, CLI_TIMEOUT);

  it('restore refuses the data directory while the gateway runs (TIQ_ERR_DATA_DIR_LOCKED)', async () => {
    const r = await cli('backup', 'restore', b1, '--force');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TIQ_ERR_DATA_DIR_LOCKED');
  }, CLI_TIMEOUT);

  it('backup → erasure → restore: the erased device stays unreadable, the others are back', async () => {
    const erased = await api('POST', '/v1/tenants/acme/devices/truck-1/erasure');
    expect(erased.status).toBe(200);
    await stop();

    const refused = await cli('backup', 'restore', b1);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TIQ_ERR_DATA_DIR_NOT_EMPTY');

    const r = await cli('backup', 'restore', b1, '--force', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { tombstones: number; tombstonesNewerThanBackup: number };
    expect(result.tombstonesNewerThanBackup).toBeGreaterThanOrEqual(1);

    await start();
    const sink = gw!.gateway.storage.sinkFor('acme');
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-1' })).toBe(0);
    expect(await sink.listDataKeys('acme', { deviceId: 'truck-1' })).toEqual([]);
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-1/data')).text)).toBe(0);
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-2/data')).text)).toBe(published['truck-2']);
    expect(gw!.gateway.control.get('shred', 'acme/truck-1')).toBeDefined();
    // The restored sink file holds no copy of the erased device's wrapped keys or rows.
    const raw = readFileSync(join(dataDir, 'thingiq.db'));
    expect(raw.includes(Buffer.from('truck-1'))).toBe(false);
    // The audit chain verifies, with the restore in it; the log it replaced is kept aside.
    const verified = await cli('audit', 'verify', '--json');
    expect(verified.code, verified.stdout).toBe(0);
    expect((await gw!.gateway.admin!.audit.query({ action: 'backup.restore', limit: 10 }))).toHaveLength(1);
  }, CLI_TIMEOUT);

  it('backup → the data directory is lost → restore: every acknowledged record is back and decrypts; rules and holds hold', async () => {
    await send('truck-2', 4);
    const r = await cli('backup', 'create', '--out', b2);
    expect(r.code, r.stderr).toBe(0);
    await stop();
    rmSync(dataDir, { recursive: true, force: true });

    const restored = await cli('backup', 'restore', b2);
    expect(restored.code, restored.stderr).toBe(0);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'thingiq.db')).mode & 0o777).toBe(0o600);

    await start();
    for (const device of ['truck-2', 'truck-3']) {
      expect(decryptedLines((await api('GET', `/v1/tenants/acme/devices/${device}/data`)).text), device).toBe(published[device]);
    }
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-1/data')).text)).toBe(0);
    const retention = JSON.parse((await api('GET', '/v1/tenants/acme/retention')).text) as { rules: { stream: string; days: number }[]; holds: { deviceId: string; held: boolean }[] };
    expect(retention.rules).toEqual(expect.arrayContaining([expect.objectContaining({ stream: 'location', days: 30 })]));
    expect(retention.holds).toEqual(expect.arrayContaining([expect.objectContaining({ deviceId: 'truck-3', held: true })]));
    const erasure = await api('POST', '/v1/tenants/acme/devices/truck-3/erasure');
    expect(erasure.status).toBe(409);
    expect(JSON.parse(erasure.text)).toMatchObject({ code: 'TIQ_ERR_LEGAL_HOLD' });
    // Devices keep publishing after a restore (the idempotency secret came back too: a resend is not stored twice).
    await send('truck-2', 1);
    expect(await gw!.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-2' })).toBe(published['truck-2']);
  }, CLI_TIMEOUT);

  it('backup verify: a sound file passes with its report; a flipped byte, a truncated file and another root key fail', async () => {
    const ok = await cli('backup', 'verify', b2, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, controlStore: { backend: 'sqlite', included: true }, sinks: [{ name: 'default', type: 'sqlite', included: true }] });

    const bytes = readFileSync(b2);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(join(base, 'flipped.tiqbak'), flipped);
    writeFileSync(join(base, 'truncated.tiqbak'), bytes.subarray(0, bytes.length - 100));
    for (const name of ['flipped.tiqbak', 'truncated.tiqbak']) {
      const r = await cli('backup', 'verify', join(base, name), '--json');
      expect(r.code, name).toBe(1);
      expect(r.stderr).toContain('TIQ_ERR_BACKUP_CORRUPT');
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: 'TIQ_ERR_BACKUP_CORRUPT' });
    }

    const otherKey = join(base, 'other-root.key');
    writeFileSync(otherKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const otherConfig = join(base, 'other.yaml');
    writeFileSync(otherConfig, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, keys: { local: { ...keys.local, rootKeyFile: otherKey } } }));
    const wrong = await runCli(base, ['--config', otherConfig, 'backup', 'verify', b2]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('TIQ_ERR_BACKUP_KEY');
    expect(existsSync(b2)).toBe(true);
  }, CLI_TIMEOUT);
});
