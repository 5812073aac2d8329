/**
 * `thingiq backup create` with no gateway running: the real command (the
 * compiled build, its snapshot thread included) works under the data
 * directory's lock and audits itself as the local operator. In the
 * development layout (keyring and root key inside dataDir) it warns that
 * such a backup cannot survive the loss of the data directory.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { CLI_TIMEOUT, publish } from '../cli/cli-helpers.ts';
import { runCli } from '../cli/run-cli.ts';

describe('backup create offline, development layout', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'gateway.yaml');
  const file = join(pki.baseDir, 'offline.tiqbak');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    const gw = await startGateway(pki);
    await publish(gw.port, pki.device('acme', 'truck-1'), 'truck-1', 2);
    await gw.gateway.close();
  }, 60_000);

  it('writes a backup that verifies, warns about the key store, audits itself and releases the lock', async () => {
    const r = await cli('backup', 'create', '--out', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ via: 'offline', file });
    expect(r.stderr).toMatch(/warning: the key store .* inside the data directory/);
    expect(existsSync(join(dataDir, 'thingiq.lock'))).toBe(false);
    const entry = new AuditLog(join(dataDir, 'audit')).query({ action: 'backup.create', limit: 10 }).at(-1);
    expect(entry).toMatchObject({ actor: 'operator:local', result: 'ok' });
    expect(entry!.detail).toMatch(/^offline files=\d+ sha256=[0-9a-f]{64}$/);

    const v = await cli('backup', 'verify', file, '--json');
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, audit: { entries: expect.any(Number) as number } });

    const refused = await cli('backup', 'restore', file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TIQ_ERR_DATA_DIR_NOT_EMPTY');
  }, CLI_TIMEOUT);
});
