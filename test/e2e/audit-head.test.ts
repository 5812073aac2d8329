/**
 * The audit chain's head in the control store: recorded after each group
 * commit (one store write for a burst), and a log that was truncated,
 * emptied, deleted or re-chained by someone holding the chain key (so the
 * log's own checkpoint agrees with it) is found out at the next start and
 * by the real `thingiq audit verify`, with TIQ_ERR_AUDIT_HEAD.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { GENESIS_HASH, hashEntry, type AuditEntry } from '../../src/audit/audit-entry.ts';
import { AuditLog, auditPaths } from '../../src/audit/audit-log.ts';
import { writeCheckpoint } from '../../src/audit/checkpoint.ts';
import { loadSecret } from '../../src/audit/pseudonym.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { AuditHeadRecorder, auditHeadKey } from '../../src/control/audit-head.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { call, CLI_TIMEOUT } from '../cli/cli-helpers.ts';
import { runCli } from '../cli/run-cli.ts';

describe('the audit head recorder', () => {
  it('a burst of group-committed entries is one store write; the head is never moved backwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-head-'));
    const store = await SqliteControlStore.open({ path: join(dir, 'control.db') });
    const log = new AuditLog(join(dir, 'audit'));
    const recorder = new AuditHeadRecorder(store, auditHeadKey(log.path));
    log.onCommit = (h) => recorder.record(h);
    const sealed = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      log.commit({ actor: 'operator:o', role: 'operator', action: 'devices.revoke', target: `n${i}`, tenant: 'acme', result: 'ok' })));
    await recorder.flush();
    expect(store.get('audit-head', auditHeadKey(log.path))).toMatchObject({ seq: 50, entries: 50, hash: sealed.at(-1)!.hash });
    expect((await store.changesSince(0)).filter((e) => e.kind === 'audit-head')).toHaveLength(1);
    recorder.record({ seq: 3, hash: sealed[2]!.hash, time: new Date().toISOString() });
    await recorder.flush();
    expect(store.get('audit-head', auditHeadKey(log.path))?.seq).toBe(50);
    await store.close();
  });
});

describe('a gateway anchors its audit log in the control store', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'gateway.yaml');
  const { log: logPath, checkpoint, chainKey } = auditPaths(join(dataDir, 'audit'));
  const backup = { log: `${logPath}.bak`, checkpoint: `${checkpoint}.bak` };
  const config = () => parseConfig({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, admin: { port: 0, mtlsPort: 0 } });
  let recorded: { seq: number; hash: string };

  /** What someone holding the chain key does: rewrite the log, then a checkpoint that agrees with it. */
  const forge = (lines: AuditEntry[]) => {
    const key = loadSecret(chainKey)!;
    let prev = GENESIS_HASH;
    const out = lines.map((e, i) => {
      const { hash: _h, ...rest } = e;
      const body = { ...rest, seq: i + 1, prevHash: prev };
      const sealed = { ...body, hash: hashEntry(body, key) };
      prev = sealed.hash;
      return sealed;
    });
    writeFileSync(logPath, out.map((e) => `${JSON.stringify(e)}\n`).join(''));
    writeCheckpoint(checkpoint, { seq: out.length, hash: out.at(-1)?.hash ?? GENESIS_HASH, time: new Date().toISOString() }, key);
    expect(verifyAuditLog(logPath).ok).toBe(true);
  };
  const entries = () => readFileSync(backup.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
  const restore = () => { copyFileSync(backup.log, logPath); copyFileSync(backup.checkpoint, checkpoint); };

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    const gw = await startGateway(pki);
    const op = pki.operator('olga');
    for (const d of ['truck-1', 'truck-2', 'truck-3']) {
      expect((await call(gw.gateway.adminPorts.mtlsPort, op, 'PUT', `/v1/tenants/acme/devices/${d}/restriction`, { mode: 'drop' })).status).toBe(200);
    }
    const head = new AuditLog(join(dataDir, 'audit')).head();
    // Recorded after the group commit, without the API call waiting for it.
    await vi.waitFor(() => expect(gw.gateway.control.get('audit-head', auditHeadKey(logPath))).toMatchObject(head), { timeout: 2000, interval: 20 });
    recorded = head;
    await gw.gateway.close();
    copyFileSync(logPath, backup.log);
    copyFileSync(checkpoint, backup.checkpoint);
  }, 60_000);
  afterAll(() => rmSync(backup.log, { force: true }));

  it('the recorded head is the log\'s head; the intact log verifies and starts', async () => {
    expect(recorded.seq).toBeGreaterThanOrEqual(3);
    const verify = await runCli(pki.baseDir, ['--config', configFile, 'audit', 'verify', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, head: recorded });
  }, CLI_TIMEOUT);

  it.each([
    ['truncated', () => forge(entries().slice(0, -2))],
    ['emptied', () => forge([])],
    ['re-chained', () => forge(entries().filter((_, i) => i !== 1))],
    ['re-chained to other entries of the same length', () => forge([...entries().slice(0, -1), { ...entries().at(-1)!, detail: 'forged' }])],
  ])('a log %s with a matching checkpoint: start refused and `audit verify` fails with TIQ_ERR_AUDIT_HEAD', async (_name, tamper) => {
    tamper();
    await expect(Gateway.start({ config: config(), baseDir: pki.baseDir, mqttPort: 0 })).rejects.toMatchObject({ code: 'TIQ_ERR_AUDIT_HEAD' });
    const verify = await runCli(pki.baseDir, ['--config', configFile, 'audit', 'verify', '--json']);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: false, code: 'TIQ_ERR_AUDIT_HEAD', recordedHead: { seq: recorded.seq, hash: recorded.hash }, firstBreak: { reason: 'anchor' } });
    restore();
  }, CLI_TIMEOUT);

  it('a deleted log and checkpoint (a new log would start at 0): `thingiq start` exits with TIQ_ERR_AUDIT_HEAD; restored, it starts', async () => {
    rmSync(logPath);
    rmSync(checkpoint);
    const start = await runCli(pki.baseDir, ['--config', configFile, 'start']);
    expect(start.code).toBe(1);
    expect(start.stdout + start.stderr).toMatch(/TIQ_ERR_AUDIT_HEAD/);
    restore();
    const gw = await Gateway.start({ config: config(), baseDir: pki.baseDir, mqttPort: 0 });
    await gw.close();
  }, CLI_TIMEOUT);
});
