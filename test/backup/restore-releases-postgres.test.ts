/**
 * Legal-hold releases made after the backup survive a restore with
 * PostgreSQL on either side (docs/operations.md, "Restore"):
 * - a tenant's records in a PostgreSQL sink, whose copy of the holds
 *   `pg_restore` brought back from before the release: the release is
 *   carried into the restored SQLite control store and into that copy;
 * - the control store in PostgreSQL (never in a backup, so its release
 *   stands): the restored SQLite sink's copy of the hold follows it.
 * Either way the released device's records are deleted once their retention
 * ends; a device still held keeps its records. Real gateway, real devices
 * over mutual TLS, real CLI, real SQLite and PostgreSQL (embedded).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { call, CLI_TIMEOUT, publish } from '../cli/cli-helpers.ts';
import { runCli } from '../cli/run-cli.ts';

const available = await startTestPostgres();
const YEARS_LATER = Date.now() + 2 * 365 * 86_400_000;

/** One gateway's setup: config file for the CLI, the same for the in-process gateway. */
function setup(overrides: Record<string, unknown>) {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const keys = { local: { keyringFile: join(pki.baseDir, 'keys', 'keyring.json'), rootKeyFile: join(pki.baseDir, 'keys', 'root.key') } };
  const configFile = join(pki.baseDir, 'gateway.yaml');
  const config = { keys, ...overrides };
  writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, ...config }));
  const op = pki.operator('olga');
  return {
    pki,
    start: () => startGateway(pki, config),
    cli: (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]),
    api: (gw: Awaited<ReturnType<typeof startGateway>>, method: string, path: string, body?: unknown) =>
      call(gw.gateway.adminPorts.mtlsPort, op, method, path, body),
  };
}

/** Hold truck-3 and truck-4, back up, release truck-3; returns the backup file and the gateway, still running. */
async function holdBackupRelease(s: ReturnType<typeof setup>): Promise<{ file: string; gw: Awaited<ReturnType<typeof startGateway>> }> {
  const gw = await s.start();
  await publish(gw.port, s.pki.device('acme', 'truck-3'), 'truck-3', 2);
  await publish(gw.port, s.pki.device('acme', 'truck-4'), 'truck-4', 1);
  for (const deviceId of ['truck-3', 'truck-4']) {
    expect((await s.api(gw, 'PUT', '/v1/tenants/acme/legal-holds', { deviceId, held: true })).status).toBe(200);
  }
  const file = join(s.pki.baseDir, 'held.tiqbak');
  expect((await s.cli('backup', 'create', '--out', file)).code).toBe(0);
  expect((await s.api(gw, 'PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: false })).status).toBe(200);
  return { file, gw };
}

/** Restores, starts, and checks that truck-3's release stands and truck-4's hold does, in the sink and at the sweep. */
async function restoreAndSweep(s: ReturnType<typeof setup>, file: string, sinkName: string): Promise<void> {
  const r = await s.cli('backup', 'restore', file, '--force', '--json');
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ holdsReleased: ['acme/truck-3'], releasesNotCarried: [] });
  const gw = await s.start();
  try {
    expect([gw.gateway.retention.policy.isHeld('acme', 'truck-3'), gw.gateway.retention.policy.isHeld('acme', 'truck-4')]).toEqual([false, true]);
    const sink = gw.gateway.storage.sinkFor('acme');
    expect(sink.name).toBe(sinkName);
    const copies = await sink.listLegalHolds();
    expect(copies.filter((h) => h.tenantId === 'acme').map((h) => [h.deviceId, h.held])).toEqual([['truck-3', false], ['truck-4', true]]);
    await gw.gateway.retention.reconcile();
    await gw.gateway.retention.sweep(YEARS_LATER);
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-3' })).toBe(0);
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-4' })).toBe(1);
    const entries = await gw.gateway.admin!.audit.query({ action: 'backup.restore', limit: 10 });
    const detail = entries.sort((a, b) => b.seq - a.seq)[0]?.detail;
    expect(detail).toContain(`holdsReleased=1 releasesNotCarried=0 released=acme/${gw.gateway.admin!.audit.pseudonyms.device('acme', 'truck-3')}`);
    expect(detail).not.toContain('truck-3');
  } finally {
    await gw.gateway.close();
  }
}

describe.skipIf(!available.ok)('restore and legal-hold releases with PostgreSQL', () => {
  afterAll(async () => { if (available.ok) await available.pg.close(); });

  it('records in a PostgreSQL sink whose hold copy pg_restore brought back: the release is carried', async () => {
    if (!available.ok) return;
    const url = await available.pg.newDatabase();
    const s = setup({
      storage: { sinks: { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'postgres', connectionString: url, poolSize: 2 } }, tenantSinks: { acme: 'eu' } },
    });
    const { file, gw } = await holdBackupRelease(s);
    await gw.gateway.close();
    // As a dump taken with the backup would put it back: truck-3's copy held again, as of its hold.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const put = await client.query(`UPDATE tiq_legal_holds SET held = true, changed_at_ms = (SELECT changed_at_ms FROM tiq_legal_holds
        WHERE tenant_id = 'acme' AND device_id = 'truck-4') WHERE tenant_id = 'acme' AND device_id = 'truck-3' AND held = false`);
      expect(put.rowCount).toBe(1);
    } finally {
      await client.end();
    }
    await restoreAndSweep(s, file, 'eu');
  }, CLI_TIMEOUT);

  it('the control store in PostgreSQL: its release stands, and the restored SQLite sink\'s hold copy follows it', async () => {
    if (!available.ok) return;
    const url = await available.pg.newDatabase();
    const s = setup({ controlStore: { type: 'postgres', connectionString: url } });
    const { file, gw } = await holdBackupRelease(s);
    await gw.gateway.close();
    await restoreAndSweep(s, file, 'default');
  }, CLI_TIMEOUT);
});
