/**
 * A restore with the control store in PostgreSQL (real, embedded): the
 * store is not in the backup file, and an erasure made after the backup is
 * found there and applied to the restored SQLite sink before anything is
 * served. The manifest names the store's backend and version.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { createBackup } from '../../src/backup/create-backup.ts';
import { restoreBackup } from '../../src/backup/restore-backup.ts';
import { auditHeadKey } from '../../src/control/audit-head.ts';
import { anchorAuditLog } from '../../src/gateway/gateway-control.ts';
import { createLogger } from '../../src/log.ts';
import { parseConfig } from '../../src/config/load.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { recordShred } from '../../src/control/shred-tombstone.ts';
import { initPki } from '../../src/pki/pki-store.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

const available = await startTestPostgres();

if (!available.ok) {
  describe.skip(`restore with a PostgreSQL control store (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  test('an erasure recorded in the PostgreSQL control store after the backup is re-applied to the restored sink', async () => {
    const base = mkdtempSync(join(tmpdir(), 'thingiq-restore-pg-'));
    const dataDir = join(base, 'data');
    const config = parseConfig({ dataDir, pkiDir: join(base, 'certs'), tenants: { acme: {} }, controlStore: { type: 'postgres', connectionString: await server.newDatabase() } });
    const keys = { config, env: { THINGIQ_ROOT_KEY: randomBytes(32).toString('base64') } };
    initPki(config.pkiDir, ['localhost']);
    const sinkPath = join(dataDir, 'thingiq.db');
    const sink = new SqliteSink('default', { path: sinkPath, durability: 'fsync' });
    await sink.start();
    for (const device of ['truck-1', 'truck-2']) {
      await sink.putDataKey({ tenantId: 'acme', dekId: `dek-${device}`, deviceId: device, kekRef: 'local:acme:v1', wrapped: randomBytes(40), createdAtMs: Date.now() });
    }
    await sink.close();
    new AuditLog(join(dataDir, 'audit')).append({ actor: 'test', role: 'operator', action: 'test', target: '-', tenant: '', result: 'ok', detail: '' });

    const control = await openControlStore(config.controlStore, dataDir);
    const file = join(base, 'b.tiqbak');
    try {
      const made = await createBackup({ config, resolvePath: (p) => p, out: file, keys, control });
      expect(made.manifest.controlStore).toMatchObject({ backend: 'postgres', included: false });
      expect(made.manifest.files.some((f) => f.role === 'control-store')).toBe(false);
      // After the backup: truck-1 is erased (its keys destroyed, the tombstone in the shared store).
      await recordShred(control, { tenantId: 'acme', deviceId: 'truck-1', receiptId: 'r-1', destroyedCount: 1, actor: 'operator:test' });
      // The log grows after the backup and the shared store anchors its newer head, as a running gateway does.
      const live = new AuditLog(join(dataDir, 'audit'));
      for (let i = 0; i < 3; i++) live.append({ actor: 'test', role: 'operator', action: 'later', target: '-', tenant: '', result: 'ok', detail: '' });
      const h = live.head();
      await control.put('audit-head', auditHeadKey(live.path), { ...h, time: new Date().toISOString(), entries: h.seq }, 'system:audit');
    } finally {
      await control.close();
    }

    const result = await restoreBackup({ file, config, resolvePath: (p) => p, keys, force: true });
    expect(result.tombstonesNewerThanBackup).toBe(1);
    const restored = new SqliteSink('default', { path: sinkPath, durability: 'fsync' });
    await restored.start();
    try {
      expect(await restored.listDataKeys('acme', { deviceId: 'truck-1' })).toEqual([]);
      expect((await restored.listDataKeys('acme', { deviceId: 'truck-2' })).map((k) => k.dekId)).toEqual(['dek-truck-2']);
    } finally {
      await restored.close();
    }
    const audit = new AuditLog(join(dataDir, 'audit')).query({ action: 'backup.restore' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.detail).toContain('newer=1');
    // The shared store's anchor follows the restored log, so the next start is not refused (TIQ_ERR_AUDIT_HEAD).
    const after = await openControlStore(config.controlStore, dataDir);
    try {
      const log = new AuditLog(join(dataDir, 'audit'));
      expect(after.get('audit-head', auditHeadKey(log.path))).toMatchObject({ seq: log.head().seq, hash: log.head().hash });
      expect(() => anchorAuditLog(log, after, createLogger('silent'))).not.toThrow();
    } finally {
      await after.close();
    }
  }, 120_000);
}
