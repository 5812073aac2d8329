/**
 * A restore must not undo what binds the operator after the backup was
 * taken: erasures (README "Backup and restore": re-applied) and legal holds
 * (docs/storage.md: held records are never deleted and erasure is refused
 * while held). Backup, then a hold, then a restore over the same data
 * directory: the hold is still in force, erasure is refused. The log the
 * restore replaced is kept beside it, whole. Real gateway and real CLI.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT, publish } from '../cli/cli-helpers.ts';
import { backupRig } from './backup-rig.ts';

describe('restore keeps the legal holds set after the backup', () => {
  const { pki, base, dataDir, keys, configFile, cli } = backupRig();
  const file = join(base, 'before-hold.tiqbak');
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let op: ClientPem;
  const api = (method: string, path: string, body?: unknown) => call(gw!.gateway.adminPorts.mtlsPort, op, method, path, body);

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, keys }));
    op = pki.operator('olga');
    gw = await startGateway(pki, { keys });
    await publish(gw.port, pki.device('acme', 'truck-3'), 'truck-3', 2);
    await publish(gw.port, pki.device('acme', 'truck-4'), 'truck-4', 1);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('backup, hold (device and tenant-wide elsewhere), restore: erasure is still refused', async () => {
    expect((await cli('backup', 'create', '--out', file)).code).toBe(0);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: true })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/globex/legal-holds', { held: true })).status).toBe(200);
    const liveLog = readFileSync(join(dataDir, 'audit', 'audit.jsonl'), 'utf8');
    await gw!.gateway.close();
    gw = undefined;

    const restored = await cli('backup', 'restore', file, '--force');
    expect(restored.code, restored.stderr).toBe(0);
    gw = await startGateway(pki, { keys });
    expect(gw.gateway.retention.policy.isHeld('acme', 'truck-3')).toBe(true);
    expect(gw.gateway.retention.policy.isHeld('globex', 'any')).toBe(true);
    const erasure = await api('POST', '/v1/tenants/acme/devices/truck-3/erasure');
    expect([erasure.status, (JSON.parse(erasure.text) as { code: string }).code]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-3' })).toBe(2);
    const restoreEntry = (await gw.gateway.admin!.audit.query({ action: 'backup.restore', limit: 10 }))[0];
    expect(restoreEntry?.detail).toMatch(/holdsKept=2/);
    // A device held by nothing is erasable as before.
    expect((await api('POST', '/v1/tenants/acme/devices/truck-4/erasure')).status).toBe(200);

    // The replaced log, with the hold entries the restored one lacks, is kept whole beside it.
    const aside = readdirSync(dataDir).filter((n) => n.startsWith('audit-before-restore-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dataDir, aside[0]!, 'audit.jsonl'), 'utf8')).toBe(liveLog);
    expect(existsSync(join(dataDir, aside[0]!, 'chain.key'))).toBe(true);
  }, CLI_TIMEOUT);
});
