/**
 * What an auditor relies on: the chain is keyed (deleting an entry and
 * re-chaining the rest is found), a missing, emptied or truncated log fails
 * against the checkpoint, group-committed appends chain like synchronous
 * ones, and repeated events are folded into one entry per interval.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashEntry, type AuditEntry, type AuditInput } from '../../src/audit/audit-entry.ts';
import { AuditLog, auditPaths } from '../../src/audit/audit-log.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';

const input = (i: number): AuditInput => ({ actor: `operator:o${i}`, role: 'operator', action: 'devices.revoke', target: `tenant:acme`, tenant: 'acme', result: 'ok', detail: `n=${i}` });

function logWith(n: number): AuditLog {
  const log = new AuditLog(mkdtempSync(join(tmpdir(), 'thingiq-audit-')));
  for (let i = 1; i <= n; i++) log.append(input(i));
  return log;
}

function entries(log: AuditLog): AuditEntry[] {
  return readFileSync(log.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
}

/** Removes entry `seq` and recomputes sequence, links and MACs of the rest under `key`, as an attacker would. */
function deleteAndRechain(log: AuditLog, seq: number, key: Buffer): void {
  let prev = GENESIS_HASH;
  const out = entries(log).filter((e) => e.seq !== seq).map((e, i) => {
    const { hash: _h, ...rest } = e;
    const body = { ...rest, seq: i + 1, prevHash: prev };
    const sealed = { ...body, hash: hashEntry(body, key) };
    prev = sealed.hash;
    return JSON.stringify(sealed);
  });
  writeFileSync(log.path, `${out.join('\n')}\n`);
}

describe('audit log an auditor can trust', () => {
  it('the chain key and checkpoint are 0600 files and the key is not in the log', () => {
    const log = logWith(3);
    const { chainKey, checkpoint } = auditPaths(log.dir);
    expect(statSync(chainKey).mode & 0o777).toBe(0o600);
    expect(statSync(checkpoint).mode & 0o777).toBe(0o600);
    expect(readFileSync(log.path, 'utf8')).not.toContain(readFileSync(chainKey, 'utf8').trim());
    expect(verifyAuditLog(log.path)).toMatchObject({ ok: true, entries: 3, checkpoint: { seq: 3 } });
  });

  it('deleting entry 100 and re-chaining the rest without the key fails verification', () => {
    const log = logWith(150);
    deleteAndRechain(log, 100, randomBytes(32));
    const result = verifyAuditLog(log.path);
    expect(result.ok).toBe(false);
    expect(result.firstBreak).toMatchObject({ line: 1, reason: 'hash' });
  });

  it('with the key but not the checkpoint, the re-chained log is shorter than the checkpoint says', () => {
    const log = logWith(150);
    deleteAndRechain(log, 100, Buffer.from(readFileSync(auditPaths(log.dir).chainKey, 'utf8').trim(), 'hex'));
    expect(verifyAuditLog(log.path)).toMatchObject({ ok: false, entries: 149, firstBreak: { reason: 'truncated' } });
  });

  it('a checkpoint copied elsewhere catches a rewrite by someone holding the key', () => {
    const log = logWith(5);
    const exported = join(mkdtempSync(join(tmpdir(), 'thingiq-anchor-')), 'checkpoint.json');
    copyFileSync(auditPaths(log.dir).checkpoint, exported);
    for (let i = 6; i <= 8; i++) log.append(input(i));
    const key = Buffer.from(readFileSync(auditPaths(log.dir).chainKey, 'utf8').trim(), 'hex');
    deleteAndRechain(log, 3, key);
    // The attacker rewrites the local checkpoint too (the first append after re-chaining does it).
    log.append(input(9));
    expect(verifyAuditLog(log.path).ok).toBe(true);
    expect(verifyAuditLog(log.path, { checkpointFile: exported })).toMatchObject({ ok: false, firstBreak: { reason: 'checkpoint' } });
  });

  it('a missing, emptied or truncated log fails; a forged or deleted checkpoint fails', () => {
    const missing = logWith(2);
    rmSync(missing.path);
    expect(verifyAuditLog(missing.path)).toMatchObject({ ok: false, firstBreak: { reason: 'missing' } });

    const emptied = logWith(2);
    writeFileSync(emptied.path, '');
    expect(verifyAuditLog(emptied.path)).toMatchObject({ ok: false, entries: 0, firstBreak: { reason: 'truncated' } });

    const truncated = logWith(5);
    const lines = readFileSync(truncated.path, 'utf8').trim().split('\n');
    writeFileSync(truncated.path, `${lines.slice(0, 3).join('\n')}\n`);
    expect(verifyAuditLog(truncated.path)).toMatchObject({ ok: false, entries: 3, firstBreak: { reason: 'truncated' } });

    const forged = logWith(5);
    const cp = JSON.parse(readFileSync(auditPaths(forged.dir).checkpoint, 'utf8')) as Record<string, unknown>;
    writeFileSync(auditPaths(forged.dir).checkpoint, JSON.stringify({ ...cp, seq: 3 }));
    expect(verifyAuditLog(forged.path).firstBreak?.reason).toBe('checkpoint');

    const noCheckpoint = logWith(2);
    rmSync(auditPaths(noCheckpoint.dir).checkpoint);
    expect(verifyAuditLog(noCheckpoint.path).firstBreak?.reason).toBe('checkpoint');
  });

  it('a new log verifies with 0 entries; without its key it cannot be verified', () => {
    const fresh = logWith(0);
    expect(verifyAuditLog(fresh.path)).toMatchObject({ ok: true, entries: 0 });
    rmSync(auditPaths(fresh.dir).chainKey);
    expect(verifyAuditLog(fresh.path).firstBreak?.reason).toBe('key');
  });

  it('group-committed appends chain onto synchronous ones and verify', async () => {
    const log = logWith(2);
    const sealed = await Promise.all([3, 4, 5, 6].map((i) => log.commit(input(i))));
    expect(sealed.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    log.append(input(7));
    expect(verifyAuditLog(log.path)).toMatchObject({ ok: true, entries: 7, checkpoint: { seq: 7 } });
  });

  it('a commit onto an unwritable log rejects with TIQ_ERR_AUDIT', async () => {
    const log = logWith(1);
    writeFileSync(log.path, `${readFileSync(log.path, 'utf8')}{"torn`);
    await expect(log.commit(input(2))).rejects.toMatchObject({ code: 'TIQ_ERR_AUDIT' });
  });

  it('repeated events: the first is written, the rest counted into one summary entry per interval', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const log = new AuditLog(mkdtempSync(join(tmpdir(), 'thingiq-audit-')), { now: () => now, aggregation: { intervalMs: 60_000 } });
    let counted = 0;
    log.aggregator.onEvent = () => counted++;
    const denied: AuditInput = { actor: 'anonymous', role: 'none', action: 'devices.list', target: '-', tenant: '', result: 'denied', detail: '401' };
    for (let i = 0; i < 500; i++) await log.aggregator.record('10.0.0.1|devices.list', denied);
    await log.aggregator.record('10.0.0.2|devices.list', denied);
    expect(log.query({ limit: 1000 })).toHaveLength(2);
    now += 61_000;
    await log.aggregator.sweep();
    const all = log.query({ limit: 1000 });
    expect(all).toHaveLength(3);
    expect(all[2]!.detail).toContain('repeated=499');
    expect(counted).toBe(501);
    await log.aggregator.close();
    expect(verifyAuditLog(log.path).ok).toBe(true);
  });
});
