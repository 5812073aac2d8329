/**
 * The real `thingiq` CLI (spawned) with no reachable gateway: refused with
 * TIQ_ERR_DATA_DIR_LOCKED while a gateway runs without its admin API; with
 * none running it works on the state under the data directory's lock,
 * obeys legal holds (shred, sweep) and audits as the local operator; a hold
 * set offline binds the API of the gateway started afterwards.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { openStorage } from '../../src/gateway/open-storage.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { record } from '../sinks/fixtures.ts';
import { call, CLI_TIMEOUT, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

describe('the CLI with no reachable gateway', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    gw = await startGateway(pki, { admin: { enabled: false } });
    await publish(gw.port, pki.device('acme', 'truck-7'), 'truck-7', 2);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('is refused while a gateway without its admin API holds the data directory', async () => {
    const [hold, shred] = await Promise.all([
      cli('retention', 'hold', '--tenant', 'acme', '--device', 'truck-7'),
      cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-7', '--yes'),
    ]);
    for (const r of [hold, shred]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/TIQ_ERR_DATA_DIR_LOCKED/);
    }
    expect(gw!.gateway.retention.policy.isHeld('acme', 'truck-7')).toBe(false);
  }, CLI_TIMEOUT);

  it('with none running, works under the lock, obeys holds and audits as the local operator', async () => {
    await gw!.gateway.close();
    gw = undefined;
    expect(existsSync(join(dataDir, 'thingiq.lock'))).toBe(false);
    // Expired records of a device about to be held and of one that is not.
    const storage = await openStorage(configFile);
    const old = Date.now() - 86_400_000;
    // Received long before the default retention would keep them: the sweep re-tags to the rules in force first.
    const receivedAtMs = Date.now() - 20 * 365 * 86_400_000;
    await storage.router.sinkFor('acme').writeBatch([record({ deviceId: 'truck-7', sequence: 1000, receivedAtMs, expiresAtMs: old }), record({ deviceId: 'truck-5', sequence: 1000, receivedAtMs, expiresAtMs: old })]);
    expect(await storage.router.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-7' })).toBe(3);
    await storage.close();

    expect((await cli('retention', 'hold', '--tenant', 'acme', '--device', 'truck-7')).code).toBe(0);
    const shred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-7', '--yes');
    expect(shred.code).toBe(1);
    expect(shred.stderr).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    const sweep = await cli('retention', 'sweep');
    expect(sweep.code).toBe(0);
    expect(sweep.stdout).toMatch(/deleted 1 expired records/);
    expect((await cli('retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', '30')).code).toBe(0);
    expect((await cli('pki', 'revoke', '--tenant', 'acme', '--device', 'truck-7')).code).toBe(0);
    expect((await cli('admin', 'private-mode', 'on', '--tenant', 'acme', '--device', 'truck-6')).code).toBe(0);

    const after = await openStorage(configFile);
    expect(await after.router.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-7' })).toBe(3);
    expect(await after.router.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-5' })).toBe(0);
    await after.close();

    const entries = new AuditLog(join(dataDir, 'audit')).query({ actor: 'operator:local', limit: 1000 });
    expect(entries.map((e) => `${e.action} ${e.result}`)).toEqual([
      'retention.hold.set ok', 'keys.shred failed', 'retention.sweep ok', 'retention.rule.set ok', 'devices.revoke ok', 'devices.private-mode.set ok',
    ]);
    expect(entries.every((e) => e.role === 'operator' && e.detail?.startsWith('offline'))).toBe(true);
    expect(entries[1]!.detail).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    expect(existsSync(join(dataDir, 'thingiq.lock'))).toBe(false);
  }, CLI_TIMEOUT);

  it('a hold set offline binds the API of the gateway started afterwards; private mode set offline is in force there', async () => {
    gw = await startGateway(pki);
    const op = pki.operator('olga');
    expect(gw.gateway.privateMode.isOn('acme', 'truck-6')).toBe(true);
    expect(gw.gateway.control.get('private-mode', 'acme/truck-6')).toMatchObject({ on: true, actor: 'operator:local', source: 'cli' });
    const erasure = await call(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-7/erasure');
    expect(erasure.status).toBe(409);
    expect(JSON.parse(erasure.text)).toMatchObject({ code: 'TIQ_ERR_LEGAL_HOLD' });
    const shred = await call(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-7/keys/shred');
    expect(shred.status).toBe(409);
  }, CLI_TIMEOUT);
});
