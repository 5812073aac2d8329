/**
 * README/docs promise (docs/storage.md, "Legal hold"): held records are never
 * deleted, whatever their expiry, and erasure and `keys shred` of a held
 * device are refused, through the API and from the CLI, with or without a
 * running gateway. A hold may come from the configuration file as well as
 * from the CLI or API. Tried here along the paths an auditor would try: a
 * hold added to the config while the gateway was down, then an offline
 * sweep; a tenant-wide hold against every device's erasure and shred.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { DEFAULT_CONTROL_STORE } from '../../src/config/control-config.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { holdKey } from '../../src/control/retention-state.ts';
import { openStorage } from '../../src/gateway/open-storage.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { record } from '../sinks/fixtures.ts';
import { call, CLI_TIMEOUT, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

const DAY = 86_400_000;
/** Received long before any retention rule of the config would keep them, so a re-tag cannot save them either. */
const LONG_AGO = Date.now() - 20 * 365 * DAY;

describe('a legal hold from the configuration file, added while no gateway runs', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  const writeConfig = (acmeHold?: object) => writeFileSync(configFile, stringify({
    pkiDir: pki.dir, dataDir, tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, ...(acmeHold ? { retention: { legalHold: acmeHold } } : {}) } },
  }));

  beforeAll(async () => {
    writeConfig();
    // Stored while nothing held them: their legal-hold flag is false, and they have expired.
    const storage = await openStorage(configFile);
    const old = Date.now() - DAY;
    await storage.router.sinkFor('acme').writeBatch([
      record({ deviceId: 'truck-3', sequence: 1, receivedAtMs: LONG_AGO, expiresAtMs: old, legalHold: false }),
      record({ deviceId: 'truck-3', sequence: 2, receivedAtMs: LONG_AGO, expiresAtMs: old, legalHold: false }),
      record({ deviceId: 'truck-4', sequence: 1, receivedAtMs: LONG_AGO, expiresAtMs: old, legalHold: false }),
    ]);
    await storage.close();
  }, 60_000);

  const count = async (deviceId: string) => {
    const storage = await openStorage(configFile);
    try { return await storage.router.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId }); } finally { await storage.close(); }
  };

  it('binds the offline sweep: the held device\'s expired records stay, the others go', async () => {
    writeConfig({ devices: ['truck-3'] });
    const sweep = await cli('retention', 'sweep');
    expect(sweep.code).toBe(0);
    expect(await count('truck-3')).toBe(2);
    expect(await count('truck-4')).toBe(0);
  }, CLI_TIMEOUT);

  it('binds the offline shred of the held device', async () => {
    const shred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-3', '--yes');
    expect(shred.code).toBe(1);
    expect(shred.stderr).toMatch(/TIQ_ERR_LEGAL_HOLD/);
  }, CLI_TIMEOUT);

  it('a hold only the control store has (another gateway\'s, or kept by a restore) binds the offline shred', async () => {
    writeConfig();
    const control = await openControlStore(DEFAULT_CONTROL_STORE, dataDir);
    await control.put('legal-hold', holdKey('acme', 'truck-6'), { tenantId: 'acme', deviceId: 'truck-6', held: true, changedAtMs: Date.now() }, 'operator:elsewhere');
    await control.close();
    const shred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-6', '--yes');
    expect(shred.code).toBe(1);
    expect(shred.stderr).toMatch(/TIQ_ERR_LEGAL_HOLD/);
  }, CLI_TIMEOUT);

  it('a tenant-wide hold in the file binds the offline sweep for every device', async () => {
    const storage = await openStorage(configFile);
    await storage.router.sinkFor('acme').writeBatch([record({ deviceId: 'truck-5', sequence: 1, receivedAtMs: LONG_AGO, expiresAtMs: Date.now() - DAY, legalHold: false })]);
    await storage.close();
    writeConfig({ tenant: true });
    expect((await cli('retention', 'sweep')).code).toBe(0);
    expect(await count('truck-5')).toBe(1);
    expect(await count('truck-3')).toBe(2);
    expect(await count('truck-4')).toBe(0);
    const entries = new AuditLog(join(dataDir, 'audit')).query({ action: 'retention.sweep', limit: 100 });
    expect(entries.map((e) => e.result)).toEqual(['ok', 'ok']);
  }, CLI_TIMEOUT);
});

describe('a tenant-wide hold set with the CLI on a running gateway', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    gw = await startGateway(pki);
    await publish(gw.port, pki.device('acme', 'truck-7'), 'truck-7', 2);
    await publish(gw.port, pki.device('acme', 'truck-8'), 'truck-8', 2);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('refuses erasure and shred of every device of the tenant, through the API and the CLI, until released', async () => {
    const op = pki.operator('olga');
    const api = (method: string, path: string) => call(gw.gateway.adminPorts.mtlsPort, op, method, path);
    expect((await cli('retention', 'hold', '--tenant', 'acme')).code).toBe(0);
    for (const device of ['truck-7', 'truck-8', 'never-seen']) {
      const erasure = await api('POST', `/v1/tenants/acme/devices/${device}/erasure`);
      expect([erasure.status, JSON.parse(erasure.text).code]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
      const shred = await api('POST', `/v1/tenants/acme/devices/${device}/keys/shred`);
      expect([shred.status, JSON.parse(shred.text).code]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    }
    const cliShred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-8', '--yes');
    expect(cliShred.code).toBe(1);
    expect(cliShred.stderr).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    // The other tenant is not held.
    expect(gw.gateway.retention.policy.isHeld('globex', 'any')).toBe(false);
    const sink = gw.gateway.storage.sinkFor('acme');
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-7' })).toBe(2);

    // A device-level release does not lift a tenant-wide hold.
    expect((await cli('retention', 'release', '--tenant', 'acme', '--device', 'truck-7')).code).toBe(0);
    const still = await api('POST', '/v1/tenants/acme/devices/truck-7/erasure');
    expect(still.status).toBe(409);

    expect((await cli('retention', 'release', '--tenant', 'acme')).code).toBe(0);
    const erased = await api('POST', '/v1/tenants/acme/devices/truck-7/erasure');
    expect(erased.status).toBe(200);
    expect(JSON.parse(erased.text)).toMatchObject({ recordsDeleted: 2, recordsRemaining: 0 });
  }, CLI_TIMEOUT);
});
