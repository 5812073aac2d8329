/** The hash chain: appends verify, and any change to any stored entry is found at that entry. */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashEntry, type AuditEntry } from '../../src/audit/audit-entry.ts';
import { AuditLog, auditPaths } from '../../src/audit/audit-log.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';

function logWith(n: number): AuditLog {
  const log = new AuditLog(mkdtempSync(join(tmpdir(), 'thingiq-audit-')));
  for (let i = 0; i < n; i++) {
    log.append({ actor: `operator:o${i}`, role: 'operator', action: 'devices.revoke', target: log.pseudonyms.device('acme', `d${i}`), tenant: 'acme', result: 'ok', detail: `n=${i}` });
  }
  return log;
}

function lines(log: AuditLog): string[] {
  return readFileSync(log.path, 'utf8').trim().split('\n');
}

function rewrite(log: AuditLog, ls: string[]): void {
  writeFileSync(log.path, `${ls.join('\n')}\n`);
}

describe('audit log', () => {
  it('chains entries with sequence numbers and verifies', () => {
    const log = logWith(5);
    const result = verifyAuditLog(log.path);
    expect(result).toMatchObject({ ok: true, entries: 5, head: log.head() });
    const entries = log.query({ limit: 10 });
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(statSync(log.path).mode & 0o777).toBe(0o600);
    expect(statSync(auditPaths(log.dir).secret).mode & 0o777).toBe(0o600);
  });

  const FIELDS = ['seq', 'time', 'actor', 'role', 'action', 'target', 'tenant', 'result', 'detail', 'prevHash', 'hash'] as const;
  it.each(FIELDS)('detects a change to %s of entry 3 at entry 3', (field) => {
    const log = logWith(5);
    const ls = lines(log);
    const entry = JSON.parse(ls[2]!) as Record<string, unknown>;
    entry[field] = field === 'seq' ? 33 : field === 'hash' || field === 'prevHash' ? 'f'.repeat(64) : `${String(entry[field])}x`;
    ls[2] = JSON.stringify(entry);
    rewrite(log, ls);
    expect(verifyAuditLog(log.path)).toMatchObject({ ok: false, entries: 2, firstBreak: { line: 3, expectedSeq: 3 } });
  });

  it('detects a removed entry, swapped entries, an added field and a garbled line', () => {
    const removed = logWith(4);
    rewrite(removed, lines(removed).filter((_, i) => i !== 1));
    expect(verifyAuditLog(removed.path).firstBreak).toEqual({ line: 2, expectedSeq: 2, reason: 'sequence' });

    const swapped = logWith(4);
    const s = lines(swapped);
    rewrite(swapped, [s[0]!, s[2]!, s[1]!, s[3]!]);
    expect(verifyAuditLog(swapped.path).firstBreak?.line).toBe(2);

    const added = logWith(3);
    const a = lines(added);
    a[1] = JSON.stringify({ ...(JSON.parse(a[1]!) as object), note: 'harmless?' });
    rewrite(added, a);
    expect(verifyAuditLog(added.path).firstBreak).toEqual({ line: 2, expectedSeq: 2, reason: 'fields' });

    const garbled = logWith(3);
    const g = lines(garbled);
    g[2] = g[2]!.slice(0, 20);
    rewrite(garbled, g);
    expect(verifyAuditLog(garbled.path).firstBreak).toEqual({ line: 3, expectedSeq: 3, reason: 'unparsable' });
  });

  it('a re-hashed forgery still breaks the chain at the next entry', () => {
    const log = logWith(4);
    const ls = lines(log);
    const forged = { ...(JSON.parse(ls[1]!) as AuditEntry), actor: 'operator:someone-else' };
    // Re-hash the forged entry the way an attacker with the code and the key would: its own MAC holds, the next link does not.
    const { hash: _old, ...body } = forged;
    ls[1] = JSON.stringify({ ...body, hash: hashEntry(body, Buffer.from(readFileSync(auditPaths(log.dir).chainKey, 'utf8').trim(), 'hex')) });
    rewrite(log, ls);
    expect(verifyAuditLog(log.path).firstBreak).toEqual({ line: 3, expectedSeq: 3, reason: 'chain' });
  });

  it('refuses to append onto a torn tail, and continues a chain another process extended', () => {
    const log = logWith(2);
    const other = new AuditLog(log.dir);
    other.append({ actor: 'cli:root', role: 'operator', action: 'keys.rotate', target: 'tenant:acme', tenant: 'acme', result: 'ok' });
    expect(log.append({ actor: 'gateway', role: 'system', action: 'privacy.reload', target: '-', tenant: '', result: 'ok' }).seq).toBe(4);
    expect(verifyAuditLog(log.path).ok).toBe(true);
    writeFileSync(log.path, `${readFileSync(log.path, 'utf8')}{"seq":5,"ti`);
    expect(() => log.append({ actor: 'gateway', role: 'system', action: 'x', target: '-', tenant: '', result: 'ok' })).toThrow(expect.objectContaining({ code: 'TIQ_ERR_AUDIT' }));
  });

  it('pseudonyms are stable per installation and differ between installations', () => {
    const a = logWith(0);
    expect(new AuditLog(a.dir).pseudonyms.device('acme', 'd1')).toBe(a.pseudonyms.device('acme', 'd1'));
    expect(logWith(0).pseudonyms.device('acme', 'd1')).not.toBe(a.pseudonyms.device('acme', 'd1'));
    expect(a.pseudonyms.device('acme', 'd1')).toMatch(/^dev_[0-9a-f]{32}$/);
  });
});
