/**
 * The real `thingiq` CLI (spawned) against a gateway running on the same
 * data directory, over real sockets: every state-changing command goes
 * through the admin API as the local operator, so holds bind it, the
 * gateway's key cache forgets a shredded key at once, and each action is in
 * the audit log with its actor. A second writer is refused.
 */
import type { AuditLog } from '../../src/audit/audit-log.ts';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT, decryptedLines, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

describe('the CLI on a data directory where a gateway runs', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  const api = (method: string, path: string, body?: unknown) => call(gw.gateway.adminPorts.mtlsPort, op, method, path, body);
  const audit = () => ((gw.gateway.admin!.audit as AuditLog).query({ actor: 'operator:local', limit: 1000 }));

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    gw = await startGateway(pki);
    op = pki.operator('olga');
    await publish(gw.port, pki.device('acme', 'truck-7'), 'truck-7', 2);
    await publish(gw.port, pki.device('acme', 'truck-8'), 'truck-8', 2);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('publishes the admin URL and the local operator identity in the lock file, private to its user', () => {
    const lock = JSON.parse(readFileSync(join(dataDir, 'thingiq.lock'), 'utf8')) as { pid: number; holder: string; admin: { url: string; keyFile: string } };
    expect(lock).toMatchObject({ pid: process.pid, holder: 'gateway' });
    expect(lock.admin.url).toBe(`https://127.0.0.1:${gw.gateway.adminPorts.mtlsPort}`);
    expect(statSync(join(dataDir, 'thingiq.lock')).mode & 0o777).toBe(0o600);
    expect(statSync(lock.admin.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'operator')).mode & 0o777).toBe(0o700);
  }, CLI_TIMEOUT);

  it('a legal hold set with the CLI refuses erasure through the API, and the CLI\'s own shred', async () => {
    const hold = await cli('retention', 'hold', '--tenant', 'acme', '--device', 'truck-7');
    expect(hold.code).toBe(0);
    const erasure = await api('POST', '/v1/tenants/acme/devices/truck-7/erasure');
    expect(erasure.status).toBe(409);
    expect(JSON.parse(erasure.text)).toMatchObject({ code: 'TIQ_ERR_LEGAL_HOLD' });
    const shred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-7', '--yes');
    expect(shred.code).toBe(1);
    expect(shred.stderr).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-7' })).toBe(2);
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-7/data')).text)).toBe(2);

    const release = await cli('retention', 'release', '--tenant', 'acme', '--device', 'truck-7');
    expect(release.code).toBe(0);
    expect(release.stdout).toMatch(/legal hold released/);
  }, CLI_TIMEOUT);

  it('keys shred from the CLI goes through the gateway: it can no longer decrypt the device\'s records', async () => {
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-8/data')).text)).toBe(2);
    const [record] = await gw.gateway.storage.sinkFor('acme').queryRecords({ tenantId: 'acme', deviceId: 'truck-8', limit: 1 });
    const shred = await cli('keys', 'shred', '--tenant', 'acme', '--device', 'truck-8', '--yes');
    expect(shred.code).toBe(0);
    const receipt = JSON.parse(shred.stdout) as { actor: string; destroyedCount: number };
    expect(receipt).toMatchObject({ actor: 'operator:local' });
    expect(receipt.destroyedCount).toBeGreaterThan(0);
    // Checked as soon as the command returns: the cache was evicted by the gateway's own shred path.
    expect(decryptedLines((await api('GET', '/v1/tenants/acme/devices/truck-8/data')).text)).toBe(0);
    await expect(gw.gateway.keys.sealer.open(record!)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
  }, CLI_TIMEOUT);

  it('pki issue (from a CSR made by the CLI) and revoke go through the API', async () => {
    const issued = await cli('pki', 'issue', 'device', '--tenant', 'acme', '--device', 'truck-9', '--out', 'truck-9');
    expect(issued.code).toBe(0);
    const pem: ClientPem = {
      cert: readFileSync(join(pki.baseDir, 'truck-9', 'truck-9.crt'), 'utf8'), key: readFileSync(join(pki.baseDir, 'truck-9', 'truck-9.key'), 'utf8'),
      ca: pki.caPem, certPath: '', keyPath: '', caPath: '', serial: '',
    };
    expect(statSync(join(pki.baseDir, 'truck-9', 'truck-9.key')).mode & 0o777).toBe(0o600);
    await publish(gw.port, pem, 'truck-9', 1); // the certificate made from the CLI's CSR works
    expect((await cli('pki', 'revoke', '--tenant', 'acme', '--device', 'truck-9')).code).toBe(0);
    await expect(connect(gw.port, pem, { clientId: 'truck-9' })).rejects.toThrow();
  }, CLI_TIMEOUT);

  it('retention set and sweep, keys rotate too; every CLI action so far is audited with the local operator', async () => {
    expect((await cli('retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', '30')).code).toBe(0);
    expect((await cli('retention', 'sweep')).code).toBe(0);
    expect((await cli('keys', 'rotate', '--tenant', 'globex')).code).toBe(0);
    // Through the API: the new primary is in the control store with the local operator as actor; status shows it.
    expect(gw.gateway.control.get('kek-version', 'globex/local:globex:v2')).toMatchObject({ primary: true, actor: 'operator:local' });
    const status = await cli('keys', 'status', '--tenant', 'globex', '--json');
    expect((JSON.parse(status.stdout) as { keks: { kekRef: string; recorded?: { actor: string } }[] }).keks
      .find((k) => k.kekRef === 'local:globex:v2')?.recorded?.actor).toBe('operator:local');

    const entries = audit();
    const actions = entries.map((e) => `${e.action} ${e.result}`);
    for (const a of ['retention.hold.set ok', 'keys.shred failed', 'keys.shred ok', 'devices.issue ok', 'devices.revoke ok', 'retention.rule.set ok', 'retention.sweep ok', 'keys.rotate ok']) {
      expect(actions).toContain(a);
    }
    expect(entries.every((e) => e.role === 'operator')).toBe(true);
    // Through the API, not beside it: no offline entries while the gateway runs.
    expect(entries.some((e) => e.detail?.startsWith('offline'))).toBe(false);
  }, CLI_TIMEOUT);

  it('`thingiq admin` without credentials uses the local gateway as the local operator', async () => {
    const r = await cli('admin', '--json', 'tenants');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tenants: expect.arrayContaining([{ id: 'acme', active: true }]) });
  }, CLI_TIMEOUT);

  it('private mode from the CLI goes through the gateway: in force at once, in the control store, audited with the local operator', async () => {
    const r = await cli('admin', '--json', 'private-mode', 'on', '--tenant', 'acme', '--device', 'truck-5');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ on: true, changed: true });
    expect(gw.gateway.privateMode.isOn('acme', 'truck-5')).toBe(true);
    expect(gw.gateway.control.get('private-mode', 'acme/truck-5')).toMatchObject({ on: true, actor: 'operator:local', source: 'api' });
    expect(audit().map((e) => `${e.action} ${e.result}`)).toContain('devices.private-mode.set ok');
    expect((await cli('admin', '--json', 'private-mode', 'off', '--tenant', 'acme', '--device', 'truck-5')).code).toBe(0);
    expect(gw.gateway.privateMode.isOn('acme', 'truck-5')).toBe(false);
  }, CLI_TIMEOUT);

  it('refuses a second gateway on the same data directory, in-process and as `thingiq start`', async () => {
    const config = parseConfig({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, admin: { port: 0, mtlsPort: 0 } });
    await expect(Gateway.start({ config, baseDir: pki.baseDir, mqttPort: 0 })).rejects.toMatchObject({ code: 'TIQ_ERR_DATA_DIR_LOCKED' });
    const second = await cli('start');
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/TIQ_ERR_DATA_DIR_LOCKED/);
    // The running gateway still holds it.
    expect((await api('GET', '/v1/tenants')).status).toBe(200);
  }, CLI_TIMEOUT);
});
