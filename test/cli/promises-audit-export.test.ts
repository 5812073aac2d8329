/**
 * Full activity logging (README "Command line", "Answer an access request";
 * docs/admin.md, "Audit log"): `thingiq records export` decrypts a data
 * subject's records, so it is audited like the API's access export, whether
 * a gateway runs on the data directory or not: its intent before the first
 * record, then its outcome with the count, naming the device by pseudonym.
 * The chain stays whole, and the gateway still starts on it afterwards.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT, decryptedLines, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

describe('records export is audited', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  const exports = () => new AuditLog(join(dataDir, 'audit')).query({ action: 'records.export', limit: 1000 });
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    gw = await startGateway(pki);
    await publish(gw.port, pki.device('acme', 'truck-7'), 'truck-7', 3);
    await publish(gw.port, pki.device('acme', 'truck-8'), 'truck-8', 1);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('with a gateway running: intent and outcome as the local operator, the device by pseudonym; the chain verifies', async () => {
    const out = join(pki.baseDir, 'truck-7.ndjson');
    const r = await cli('records', 'export', '--tenant', 'acme', '--device', 'truck-7', '--format', 'ndjson', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(decryptedLines(readFileSync(out, 'utf8'))).toBe(3);
    const pseudonym = gw!.gateway.admin!.audit.pseudonyms.device('acme', 'truck-7');
    expect(exports().map((e) => [e.result, e.actor, e.role, e.target, e.tenant])).toEqual([
      ['started', 'operator:local', 'operator', `device:${pseudonym}`, 'acme'],
      ['ok', 'operator:local', 'operator', `device:${pseudonym}`, 'acme'],
    ]);
    expect(exports()[1]!.detail).toMatch(/records=3/);
    expect(JSON.stringify(exports())).not.toContain('truck-7');
    // The gateway goes on appending onto the CLI's entries.
    const op = pki.operator('olga');
    expect((await call(gw!.gateway.adminPorts.mtlsPort, op, 'PUT', '/v1/tenants/acme/devices/truck-8/restriction', { mode: 'none' })).status).toBe(200);
    const verify = await cli('audit', 'verify');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, CLI_TIMEOUT);

  it('with none running: a tenant-wide export is audited too, and the gateway starts on the chain afterwards', async () => {
    await gw!.gateway.close();
    gw = undefined;
    const r = await cli('records', 'export', '--tenant', 'acme', '--format', 'csv');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\r\n')).toHaveLength(5);
    expect(exports().slice(2).map((e) => [e.result, e.target])).toEqual([['started', 'tenant:acme'], ['ok', 'tenant:acme']]);
    expect(exports()[3]!.detail).toMatch(/records=4/);
    gw = await startGateway(pki);
    expect((await cli('audit', 'verify')).code).toBe(0);
  }, CLI_TIMEOUT);
});
