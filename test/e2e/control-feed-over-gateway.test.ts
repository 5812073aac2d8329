/**
 * The running gateway applies changes other processes write to the control
 * store, from its change feed: the real CLI (a child process) shreds a
 * device's keys and revokes a certificate; a second store connection
 * restricts a device. Each takes effect on live state within a second.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { RestrictionRegistry } from '../../src/admin/restriction-registry.ts';
import { TEST_TENANTS, connect, startGateway, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { runCli } from '../cli/run-cli.ts';

function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** How many records a GET of the device's data returned decrypted (0 when the export fails part-way). */
async function decryptedLines(port: number, pem: ClientPem, tenant: string, device: string): Promise<number> {
  try {
    const r = await call(port, pem, 'GET', `/v1/tenants/${tenant}/devices/${device}/data`);
    return r.status === 200 ? r.text.split('\n').filter((l) => l.trim() !== '').length : 0;
  } catch {
    return 0;
  }
}

describe('the gateway applies control-store changes made by other processes', () => {
  const pki = new TestPki();
  const config = { pkiDir: pki.dir, dataDir: join(pki.baseDir, 'data'), tenants: TEST_TENANTS, admin: { port: 0, mtlsPort: 0 } };
  const configFile = join(pki.baseDir, 'gateway.yaml');
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    // A restriction left by an older version, in its file: imported once at start.
    mkdirSync(join(config.dataDir, 'admin'), { recursive: true });
    writeFileSync(join(config.dataDir, 'admin', 'restrictions.json'), JSON.stringify({ version: 1, restrictions: [
      { tenantId: 'acme', deviceId: 'old-1', mode: 'refuse', sinceMs: 1, actor: 'cli:root', reason: '' }] }));
    writeFileSync(configFile, stringify(config));
    gw = await startGateway(pki, config);
    op = pki.operator('olga');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('imports the files of older versions once, with a log line', async () => {
    expect(gw.logs.events('control_imported').filter((l) => l['source'] === 'restrictions.json')).toEqual([expect.objectContaining({ entries: 1 })]);
    await expect(connect(gw.port, pki.device('acme', 'old-1'), { clientId: 'old-1' })).rejects.toThrow(/Not authorized/i);
  });

  it('CLI `keys shred` while the gateway runs: within a second the gateway can no longer decrypt the device\'s records', async () => {
    const device = await connect(gw.port, pki.device('acme', 'truck-7'), { clientId: 'truck-7' });
    clients.push(device);
    for (let i = 0; i < 3; i++) await device.publishAsync('tenants/acme/devices/truck-7/location', encode(VEHICLE, vehicle()), { qos: 1 });
    // Read once: the gateway now holds the device's data key in its cache.
    expect(await decryptedLines(gw.gateway.adminPorts.mtlsPort, op, 'acme', 'truck-7')).toBe(3);
    const shred = await runCli(pki.baseDir, ['-c', configFile, 'keys', 'shred', '--tenant', 'acme', '--device', 'truck-7', '--yes', '--actor', 'olga']);
    expect(shred.code, shred.stderr).toBe(0);
    expect(JSON.parse(shred.stdout).destroyedCount).toBeGreaterThan(0);
    // The CLI's exit is after its commit: from here the feed has a second to deliver the tombstone.
    await vi.waitFor(async () => expect(await decryptedLines(gw.gateway.adminPorts.mtlsPort, op, 'acme', 'truck-7')).toBe(0), { timeout: 1000, interval: 50 });
    const [stored] = await gw.gateway.storage.sinkFor('acme').queryRecords({ tenantId: 'acme', deviceId: 'truck-7' });
    await expect(gw.gateway.keys.sealer.open(stored!)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
  }, 120_000);

  it('CLI `pki revoke` while the gateway runs: the live session closes within a second', async () => {
    const pem = pki.device('acme', 'truck-8');
    const device = await connect(gw.port, pem, { clientId: 'truck-8' });
    clients.push(device);
    const closed = new Promise<void>((r) => device.once('close', () => r()));
    const revoke = await runCli(pki.baseDir, ['-c', configFile, 'pki', 'revoke', '--tenant', 'acme', '--device', 'truck-8', '--actor', 'olga']);
    expect(revoke.code, revoke.stderr).toBe(0);
    await vi.waitFor(() => expect(gw.logs.events('revoked_disconnect').length).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
    await closed;
    await expect(connect(gw.port, pem, { clientId: 'truck-8', reconnectPeriod: 0 })).rejects.toThrow();
  }, 120_000);

  it('a restriction written through a second store connection: "refuse" closes the session within a second and refuses reconnects', async () => {
    const pem = pki.device('acme', 'truck-9');
    const device = await connect(gw.port, pem, { clientId: 'truck-9' });
    clients.push(device);
    const closed = new Promise<void>((r) => device.once('close', () => r()));
    await withSecondControlStore(gw.gateway, (store) => new RestrictionRegistry(store).set('acme', 'truck-9', 'refuse', 'cli:root'));
    await vi.waitFor(() => expect(gw.logs.events('restricted_disconnect').length).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
    await closed;
    await expect(connect(gw.port, pem, { clientId: 'truck-9' })).rejects.toThrow(/Not authorized/i);
  });

  it('CLI `retention hold` and `retention set` while the gateway runs: in force within a second; erasure through the API is refused', async () => {
    const device = await connect(gw.port, pki.device('acme', 'truck-5'), { clientId: 'truck-5' });
    clients.push(device);
    await device.publishAsync('tenants/acme/devices/truck-5/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const hold = await runCli(pki.baseDir, ['-c', configFile, 'retention', 'hold', '--tenant', 'acme', '--device', 'truck-5']);
    expect(hold.code, hold.stderr).toBe(0);
    await vi.waitFor(() => expect(gw.gateway.retention.policy.isHeld('acme', 'truck-5')).toBe(true), { timeout: 1000, interval: 20 });
    const erasure = await call(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-5/erasure', {});
    expect([erasure.status, JSON.parse(erasure.text).code]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-5' })).toBe(1);

    const set = await runCli(pki.baseDir, ['-c', configFile, 'retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', '3']);
    expect(set.code, set.stderr).toBe(0);
    await vi.waitFor(() => expect(gw.gateway.retention.policy.ruleFor('acme', 'location', 'truck-1')).toEqual({ class: 'location-3d', days: 3 }), { timeout: 1000, interval: 20 });
  }, 180_000);
});
