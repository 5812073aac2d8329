/**
 * Scheduled backups: a real gateway with `backup: { dir, intervalMs, keep }`
 * writes a backup every interval while devices publish, keeps only the
 * newest `keep` files (other files in the directory are left alone), audits
 * each run, and every kept file verifies. The config schema refuses a bad
 * section with every problem listed.
 */
import type { AuditLog } from '../../src/audit/audit-log.ts';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBackup } from '../../src/backup/verify-backup.ts';
import { parseConfig } from '../../src/config/load.ts';
import { sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { publish } from '../cli/cli-helpers.ts';

describe('scheduled backups', () => {
  const pki = new TestPki();
  const dir = join(pki.baseDir, 'backups');
  const keys = { local: { keyringFile: join(pki.baseDir, 'keys', 'keyring.json'), rootKeyFile: join(pki.baseDir, 'keys', 'root.key') } };
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    gw = await startGateway(pki, { keys, backup: { dir, intervalMs: 1000, keep: 2 } });
    await publish(gw.port, pki.device('acme', 'truck-1'), 'truck-1', 3);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'keep-me.txt'), 'not a backup');
  }, 60_000);
  afterAll(async () => { await gw?.gateway.close(); });

  const scheduled = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tiqbak')).sort() : []);
  const runs = () => ((gw.gateway.admin!.audit as AuditLog).query({ action: 'backup.scheduled', limit: 100 }));

  it('writes one every interval and keeps only the newest two; every run is audited and every kept file verifies', async () => {
    const deadline = Date.now() + 60_000;
    while (runs().length < 4 && Date.now() < deadline) await sleep(200);
    expect(runs().length).toBeGreaterThanOrEqual(4);
    expect(runs().every((e) => e.result === 'ok' && e.actor === 'system')).toBe(true);
    // A run writes its file, then prunes: right after an audited run, exactly `keep` files remain.
    await gw.gateway.close();
    const files = scheduled();
    expect(files).toHaveLength(2);
    expect(files.every((f) => /^thingiq-\d{8}T\d{9}Z\.tiqbak$/.test(f))).toBe(true);
    // The two kept are the newest: every older run's file is gone.
    const written = runs().map((e) => e.target.replace('backup:', ''));
    expect(written.filter((f) => f > files[1]!)).toEqual([]);
    for (const f of written.filter((w) => !files.includes(w))) expect(existsSync(join(dir, f))).toBe(false);
    for (const f of files) {
      const report = await verifyBackup(join(dir, f), { config: gw.gateway.config, env: {} });
      expect(report.sinks).toEqual([{ name: 'default', type: 'sqlite', included: true }]);
    }
    expect(gw.logs.events('backup_created').length).toBeGreaterThanOrEqual(4);
    expect(gw.logs.events('backup_warning')).toEqual([]); // keys outside dataDir: no warning
  }, 90_000);

  it('leaves files it did not write alone', () => {
    expect(existsSync(join(dir, 'keep-me.txt'))).toBe(true);
  });
});

describe('the backup config section', () => {
  it('is validated: unknown keys, a too-short interval, keep 0 and aws-kms without a key are refused together', () => {
    const problemsOf = (raw: unknown): string[] => {
      try {
        parseConfig(raw);
        return [];
      } catch (err) {
        expect(err).toMatchObject({ code: 'TIQ_ERR_CONFIG' });
        return ((err as { detail?: { problems?: string[] } }).detail?.problems) ?? [];
      }
    };
    const problems = problemsOf({ backup: { dir: 'b', intervalMs: 10, keep: 0, keyProvider: 'aws-kms', every: 'day' } });
    expect(problems.some((p) => p.includes('backup.intervalMs'))).toBe(true);
    expect(problems.some((p) => p.includes('backup.keep'))).toBe(true);
    expect(problems.some((p) => p.includes('every'))).toBe(true);
    expect(problemsOf({ backup: { keyProvider: 'aws-kms' } }).some((p) => p.includes('backup.kmsKeyId'))).toBe(true);
    expect(parseConfig({ backup: { dir: 'b' } }).backup).toMatchObject({ dir: 'b', intervalMs: 86_400_000, keep: 7 });
  });
});
