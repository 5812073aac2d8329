/**
 * A restore must not bring back a legal hold released after the backup: the
 * records it kept are deleted when their retention ends, as before the
 * restore (docs/operations.md, "Restore"). Absence is no release: a restore
 * onto an empty data directory keeps every hold of the backup; a release the
 * backup contradicts is not carried, and the restore says so. Real gateway,
 * real devices over mutual TLS, real CLI, real SQLite.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { releaseVerdict } from '../../src/backup/restore-holds.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { holdKey } from '../../src/control/retention-state.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT, publish } from '../cli/cli-helpers.ts';
import { runCli } from '../cli/run-cli.ts';
import { backupRig } from './backup-rig.ts';

const YEARS_LATER = Date.now() + 2 * 365 * 86_400_000;
const hold = (deviceId: string, held: boolean, changedAtMs: number) => ({ tenantId: 'acme', deviceId, held, changedAtMs });

describe('releaseVerdict', () => {
  it('carries a release made after the backup of an older hold; nothing else frees a hold', () => {
    expect(releaseVerdict(hold('d', false, 300), hold('d', true, 100), 200)).toBe('release');
    // The backup contradicts it: released before the backup was taken, yet the backup holds.
    expect(releaseVerdict(hold('d', false, 150), hold('d', true, 100), 200)).toBe('not-carried');
    // The backup's hold is newer than the release.
    expect(releaseVerdict(hold('d', false, 300), hold('d', true, 400), 200)).toBe('none');
    expect(releaseVerdict(hold('d', false, 300), undefined, 200)).toBe('none');
    // The backup's store says nothing, the config file holds it: its release after the backup is carried.
    expect(releaseVerdict(hold('d', false, 300), undefined, 200, true)).toBe('release');
    expect(releaseVerdict(hold('d', false, 150), undefined, 200, true)).toBe('not-carried');
    expect(releaseVerdict(hold('d', false, 300), hold('d', false, 100), 200, true)).toBe('none');
    expect(releaseVerdict(hold('d', true, 300), undefined, 200)).toBe('keep-hold');
    expect(releaseVerdict(hold('d', true, 300), hold('d', false, 100), 200)).toBe('keep-hold');
    expect(releaseVerdict(hold('d', true, 300), hold('d', true, 100), 200)).toBe('none');
  });
});

describe('restore and legal holds released after the backup', () => {
  const { pki, base, dataDir, keys, configFile, cli } = backupRig();
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let op: ClientPem;
  const api = (method: string, path: string, body?: unknown) => call(gw!.gateway.adminPorts.mtlsPort, op, method, path, body);
  const stop = async () => { await gw!.gateway.close(); gw = undefined; };
  const restoreJson = async (file: string, ...flags: string[]) => {
    const r = await cli('backup', 'restore', file, '--json', ...flags);
    expect(r.code, r.stderr).toBe(0);
    return { ...(JSON.parse(r.stdout) as { holdsKept: number; holdsReleased: string[]; releasesNotCarried: string[] }), stderr: r.stderr };
  };
  const lastRestoreDetail = async () => (await gw!.gateway.admin!.audit.query({ action: 'backup.restore', limit: 10 })).sort((a, b) => b.seq - a.seq)[0]?.detail;

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, keys }));
    op = pki.operator('olga');
    gw = await startGateway(pki, { keys });
    await publish(gw.port, pki.device('acme', 'truck-3'), 'truck-3', 2);
    await publish(gw.port, pki.device('acme', 'truck-4'), 'truck-4', 1);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: true })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-4', held: true })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/globex/legal-holds', { held: true })).status).toBe(200);
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('hold, backup, release, restore: the release stands, expired records go at the sweep; the other hold stays', async () => {
    const file = join(base, 'held.tiqbak');
    expect((await cli('backup', 'create', '--out', file)).code).toBe(0);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: false })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/globex/legal-holds', { held: false })).status).toBe(200);
    await stop();

    const restored = await restoreJson(file, '--force');
    expect(restored).toMatchObject({ holdsKept: 0, holdsReleased: ['acme/truck-3', 'globex/*'], releasesNotCarried: [] });
    gw = await startGateway(pki, { keys });
    const policy = gw.gateway.retention.policy;
    expect([policy.isHeld('acme', 'truck-3'), policy.isHeld('globex', 'any'), policy.isHeld('acme', 'truck-4')]).toEqual([false, false, true]);
    // The sink's own copy of the hold (its sweep checks it) is released too.
    const sink = gw.gateway.storage.sinkFor('acme');
    expect((await sink.listLegalHolds()).find((h) => h.deviceId === 'truck-3')?.held).toBe(false);
    // Once retention ends, the released device's records are deleted; the held one's are kept.
    await gw.gateway.retention.reconcile();
    await gw.gateway.retention.sweep(YEARS_LATER);
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-3' })).toBe(0);
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'truck-4' })).toBe(1);
    // The audit log names the device by its pseudonym, never by its id (as every entry does).
    const truck3 = gw.gateway.admin!.audit.pseudonyms.device('acme', 'truck-3');
    expect(await lastRestoreDetail()).toContain(`holdsKept=0 holdsReleased=2 releasesNotCarried=0 released=acme/${truck3},globex/*`);
    expect(await lastRestoreDetail()).not.toContain('truck-3');
  }, CLI_TIMEOUT);

  it('onto an empty data directory (disaster recovery) every hold of the backup stays: absence is no release', async () => {
    const file = join(base, 'truck-4-held.tiqbak');
    expect((await cli('backup', 'create', '--out', file)).code).toBe(0);
    expect((await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-4', held: false })).status).toBe(200);
    await stop();
    rmSync(dataDir, { recursive: true, force: true });

    const restored = await restoreJson(file);
    expect(restored).toMatchObject({ holdsKept: 0, holdsReleased: [], releasesNotCarried: [] });
    gw = await startGateway(pki, { keys });
    expect(gw.gateway.retention.policy.isHeld('acme', 'truck-4')).toBe(true);
    await gw.gateway.retention.reconcile();
    await gw.gateway.retention.sweep(YEARS_LATER);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-4' })).toBe(1);
    expect(await lastRestoreDetail()).toMatch(/holdsReleased=0 releasesNotCarried=0/);
  }, CLI_TIMEOUT);

  it('a release the backup contradicts is not carried: the hold stays, and the restore says so', async () => {
    const file = join(base, 'contradicted.tiqbak');
    await stop();
    // The backup holds truck-4 (the hold restored above).
    expect((await cli('backup', 'create', '--out', file)).code).toBe(0);
    // The live store says it was released after heldAt but before the backup: another history (or a clock moved).
    const store = await openControlStore(undefined, dataDir);
    try {
      const since = store.get('legal-hold', holdKey('acme', 'truck-4'))!;
      expect(since.held).toBe(true);
      await store.put('legal-hold', holdKey('acme', 'truck-4'), hold('truck-4', false, since.changedAtMs + 1), 'operator:test');
    } finally {
      await store.close();
    }

    const restored = await restoreJson(file, '--force');
    expect(restored).toMatchObject({ holdsReleased: [], releasesNotCarried: ['acme/truck-4'] });
    expect(restored.stderr).toContain('acme/truck-4');
    gw = await startGateway(pki, { keys });
    expect(gw.gateway.retention.policy.isHeld('acme', 'truck-4')).toBe(true);
    expect(await lastRestoreDetail()).toContain(`holdsReleased=0 releasesNotCarried=1 notCarried=acme/${gw.gateway.admin!.audit.pseudonyms.device('acme', 'truck-4')}`);
    expect(await lastRestoreDetail()).not.toContain('truck-4');
  }, CLI_TIMEOUT);
});

describe('restore and a release of a hold set in the config file', () => {
  it('released after the backup through the API: the restore carries the release over the file\'s hold', async () => {
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    const keys = { local: { keyringFile: join(pki.baseDir, 'keys', 'keyring.json'), rootKeyFile: join(pki.baseDir, 'keys', 'root.key') } };
    const tenants = { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, retention: { legalHold: { devices: ['truck-5'] } } } };
    const configFile = join(pki.baseDir, 'gateway.yaml');
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants, keys }));
    const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
    const op = pki.operator('olga');
    let gw = await startGateway(pki, { keys, tenants });
    try {
      await publish(gw.port, pki.device('acme', 'truck-5'), 'truck-5', 1);
      expect(gw.gateway.retention.policy.isHeld('acme', 'truck-5')).toBe(true);
      const file = join(pki.baseDir, 'file-hold.tiqbak');
      expect((await cli('backup', 'create', '--out', file)).code).toBe(0);
      const released = await call(gw.gateway.adminPorts.mtlsPort, op, 'PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-5', held: false });
      expect(released.status).toBe(200);
      await gw.gateway.close();

      const r = await cli('backup', 'restore', file, '--force', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ holdsReleased: ['acme/truck-5'], releasesNotCarried: [] });
      gw = await startGateway(pki, { keys, tenants });
      expect(gw.gateway.retention.policy.isHeld('acme', 'truck-5')).toBe(false);
      await gw.gateway.retention.reconcile();
      await gw.gateway.retention.sweep(YEARS_LATER);
      expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-5' })).toBe(0);
    } finally {
      await gw.gateway.close();
    }
  }, CLI_TIMEOUT);
});
