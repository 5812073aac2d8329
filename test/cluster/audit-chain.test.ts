/**
 * One audit chain in cluster mode: three nodes (each its own pool, so its own
 * PostgreSQL sessions) appending at once produce one linear chain that
 * verifies, a burst of one node costs one transaction, and an edited,
 * deleted or reordered row makes `thingiq audit verify` fail with the file
 * log's code (TIQ_ERR_AUDIT) and break reasons.
 */
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditInput } from '../../src/audit/audit-entry.ts';
import { registerAuditCommands } from '../../src/cli/audit-commands.ts';
import { clusterAuditTrail } from '../../src/cluster/cluster-state.ts';
import type { PgAuditChain } from '../../src/cluster/pg-audit-chain.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const available = await startTestPostgres();

const input = (node: string, i: number): AuditInput =>
  ({ actor: `operator:${node}`, role: 'operator', action: 'devices.revoke', target: `device:dev_${i}`, tenant: 'acme', result: 'ok', detail: `n=${i}` });

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { await c.query(text); } finally { await c.end(); }
}

if (!available.ok) {
  describe.skip(`shared audit chain (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server: TestPostgres = available.pg;
  const dir = mkdtempSync(join(tmpdir(), 'tiq-audit-chain-'));
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, randomBytes(48), { mode: 0o600 });
  const open: PgAuditChain[] = [];

  async function configFor(url: string): Promise<{ file: string; config: ReturnType<typeof parseConfig> }> {
    const raw = {
      tenants: { acme: {} },
      controlStore: { type: 'postgres', connectionString: url },
      cluster: { nats: { servers: ['nats://127.0.0.1:4222'] }, sessionTickets: { secretFile } },
    };
    const file = join(dir, `gateway-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(file, stringify(raw));
    return { file, config: parseConfig(raw) };
  }

  async function node(config: ReturnType<typeof parseConfig>, nodeId: string): Promise<PgAuditChain> {
    const chain = (await clusterAuditTrail(config, { nodeId }))!;
    open.push(chain);
    return chain;
  }

  async function verifyCli(file: string): Promise<{ exitCode: number; result: Record<string, unknown> }> {
    let out = '';
    const program = new Command('thingiq').exitOverride().option('-c, --config <file>');
    registerAuditCommands(program, { out: (t) => (out += t) });
    process.exitCode = 0;
    await program.parseAsync(['node', 'thingiq', '--config', file, 'audit', 'verify', '--json']);
    const exitCode = Number(process.exitCode ?? 0);
    process.exitCode = 0;
    return { exitCode, result: JSON.parse(out) as Record<string, unknown> };
  }

  let url = '';
  let file = '';
  let config: ReturnType<typeof parseConfig>;

  beforeAll(async () => {
    url = await server.newDatabase();
    ({ file, config } = await configFor(url));
    const nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => node(config, id)));
    // Three bursts at once, each of 40 entries queued in one turn of the event loop, twice.
    for (let round = 0; round < 2; round++) {
      await Promise.all(nodes.flatMap((n) => Array.from({ length: 40 }, (_, i) => n.commit(input(n.node, round * 40 + i)))));
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of open) await c.close().catch(() => undefined);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the shared audit chain', () => {
    test('three nodes appending at once make one linear chain that verifies, each entry naming its node', async () => {
      const reader = await node(config, 'node-r');
      const entries = await reader.query({ limit: 1000 });
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 240 }, (_, i) => i + 1));
      for (let i = 1; i < entries.length; i++) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
      const byNode = (id: string) => entries.filter((e) => e.node === id);
      expect([byNode('node-a').length, byNode('node-b').length, byNode('node-c').length]).toEqual([80, 80, 80]);
      // Group commit: a node's burst went in one transaction (one sealing time, consecutive sequence numbers).
      for (const id of ['node-a', 'node-b', 'node-c']) {
        const burst = byNode(id).slice(0, 40);
        expect(new Set(burst.map((e) => e.time)).size).toBe(1);
        expect(burst.at(-1)!.seq - burst[0]!.seq).toBe(39);
      }
      expect(await reader.verify()).toMatchObject({ ok: true, entries: 240, head: { seq: 240, hash: entries.at(-1)!.hash } });
      expect(await verifyCli(file)).toMatchObject({ exitCode: 0, result: { ok: true, entries: 240 } });
      expect(await reader.query({ actor: 'operator:node-b', afterSeq: 0, limit: 5 })).toHaveLength(5);
    });

    test('an edited row fails verification at that entry (hash)', async () => {
      const db = await server.newDatabase();
      const { file: f, config: c } = await configFor(db);
      const n = await node(c, 'node-a');
      await Promise.all(Array.from({ length: 10 }, (_, i) => n.commit(input('node-a', i))));
      await sql(db, "UPDATE tiq_audit_chain SET result = 'denied' WHERE seq = 4");
      expect(await verifyCli(f)).toMatchObject({ exitCode: 1, result: { ok: false, code: 'TIQ_ERR_AUDIT', entries: 3, firstBreak: { expectedSeq: 4, reason: 'hash' } } });
    });

    test('a deleted row inside (sequence) or at the end (truncated), and reordered rows (chain), all fail', async () => {
      const cases: [string, string, number][] = [
        ['DELETE FROM tiq_audit_chain WHERE seq = 5', 'sequence', 4],
        ['DELETE FROM tiq_audit_chain WHERE seq = 10', 'truncated', 9],
        ['UPDATE tiq_audit_chain SET seq = -6 WHERE seq = 6; UPDATE tiq_audit_chain SET seq = 6 WHERE seq = 7; UPDATE tiq_audit_chain SET seq = 7 WHERE seq = -6', 'chain', 5],
        ["UPDATE tiq_audit_chain SET node = 'node-z' WHERE seq = 2", 'hash', 1],
        ['DELETE FROM tiq_audit_head', 'checkpoint', 10],
      ];
      for (const [statement, reason, entries] of cases) {
        const db = await server.newDatabase();
        const { file: f, config: c } = await configFor(db);
        const n = await node(c, 'node-a');
        await Promise.all(Array.from({ length: 10 }, (_, i) => n.commit(input('node-a', i))));
        await sql(db, statement);
        expect(await verifyCli(f), statement).toMatchObject({ exitCode: 1, result: { ok: false, code: 'TIQ_ERR_AUDIT', entries, firstBreak: { reason } } });
      }
    }, 60_000);

    test('an append never seals onto a head that was moved back or removed: it fails closed with TIQ_ERR_AUDIT', async () => {
      const db = await server.newDatabase();
      const { config: c } = await configFor(db);
      const n = await node(c, 'node-a');
      await n.commit(input('node-a', 1));
      await sql(db, "UPDATE tiq_audit_head SET seq = 0, hash = repeat('0', 64)");
      await expect(n.commit(input('node-a', 2))).rejects.toMatchObject({ code: 'TIQ_ERR_AUDIT' });
      await sql(db, 'DELETE FROM tiq_audit_head');
      await expect(n.commit(input('node-a', 3))).rejects.toMatchObject({ code: 'TIQ_ERR_AUDIT' });
      expect((await n.query()).map((e) => e.seq)).toEqual([1]);
    });

    test('a node with another cluster secret cannot extend or verify the chain', async () => {
      const otherSecret = join(dir, 'other.secret');
      writeFileSync(otherSecret, randomBytes(48), { mode: 0o600 });
      const stranger = (await clusterAuditTrail({ ...config, cluster: { ...config.cluster!, sessionTickets: { ...config.cluster!.sessionTickets, secretFile: otherSecret } } }, { nodeId: 'node-x' }))!;
      open.push(stranger);
      await expect(stranger.commit(input('node-x', 1))).rejects.toMatchObject({ code: 'TIQ_ERR_AUDIT' });
      expect(await stranger.verify()).toMatchObject({ ok: false, firstBreak: { reason: 'hash' } });
    });
  });
}
