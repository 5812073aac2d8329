/**
 * An offline CLI action on a cluster node (no gateway running there) is
 * audited in the cluster's one chain in PostgreSQL, as the gateway's own
 * actions are, never only in the node's local audit file: the real
 * `thingiq` CLI, a real PostgreSQL.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { auditDirOf, AuditLog } from '../../src/audit/audit-log.ts';
import { clusterAuditTrail } from '../../src/cluster/cluster-state.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { runCli } from '../cli/run-cli.ts';
import { provisionSharedState } from './harness/shared-state.ts';

const available = await startTestPostgres();
afterAll(async () => { if (available.ok) await available.pg.close(); });

(available.ok ? describe : describe.skip)('offline CLI on a cluster node', () => {
  test('a legal hold set offline is in the shared audit chain, which still verifies', async () => {
    if (!available.ok) return;
    const pki = new TestPki();
    const node = (await provisionSharedState(available.pg, pki.baseDir, { oneDatabase: true })).node('edge-1', ['nats://127.0.0.1:1']);
    const dataDir = node.dataDir;
    const raw = { pkiDir: pki.dir, tenants: TEST_TENANTS, ...node };
    const configFile = join(pki.baseDir, 'cluster.yaml');
    writeFileSync(configFile, stringify(raw));

    const r = await runCli(pki.baseDir, ['--config', configFile, 'retention', 'hold', '--tenant', 'acme', '--device', 'truck-7']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    const chain = (await clusterAuditTrail(parseConfig(raw, 'test')))!;
    try {
      const entries = await chain.query();
      const hold = entries.filter((e) => e.action === 'retention.hold.set');
      expect(hold).toHaveLength(1);
      expect(hold[0]).toMatchObject({ result: 'ok', tenant: 'acme', role: 'operator' });
      expect(hold[0]!.detail).toContain('offline');
      expect((await chain.verify()).ok).toBe(true);
    } finally {
      await chain.close();
    }
    // Nothing of it only in the node's own file.
    const local = auditDirOf(dataDir);
    if (existsSync(local)) expect(new AuditLog(local).query().filter((e) => e.action === 'retention.hold.set')).toEqual([]);
  }, 60_000);
});
