/**
 * State files are written whole or not at all (temporary file, fsync,
 * rename), and every writer in the source goes through those helpers.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPseudonymizer } from '../../src/audit/pseudonym.ts';
import { appendLineDurable, writeFileAtomic } from '../../src/pki/secure-files.ts';

const SRC = join(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

describe('atomic state files', () => {
  it('replaces the content whole, with the mode asked for, leaving no temporary file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-atomic-'));
    const path = join(dir, 'state.json');
    writeFileAtomic(path, '{"v":1}\n', 0o600);
    writeFileAtomic(path, '{"v":2}\n', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('{"v":2}\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('a write that cannot complete leaves the old file as it was and no temporary file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-atomic-'));
    const path = join(dir, 'state.json');
    writeFileAtomic(path, 'old\n', 0o600);
    // A directory where the file should be: the rename fails after the data was written.
    const blocked = join(dir, 'blocked');
    mkdirSync(join(blocked, 'inside'), { recursive: true });
    expect(() => writeFileAtomic(blocked, 'new\n', 0o600)).toThrow();
    expect(readdirSync(dir).sort()).toEqual(['blocked', 'state.json']);
    // A read-only directory: the temporary file cannot even be created.
    chmodSync(dir, 0o500);
    try {
      if (process.getuid?.() !== 0) expect(() => writeFileAtomic(path, 'new\n', 0o600)).toThrow();
    } finally {
      chmodSync(dir, 0o700);
    }
    expect(readFileSync(path, 'utf8')).toBe('old\n');
  });

  it('an appended log line is written owner-only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-append-'));
    appendLineDurable(join(dir, 'other.jsonl'), '{"a":1}');
    expect(readFileSync(join(dir, 'other.jsonl'), 'utf8')).toBe('{"a":1}\n');
    expect(statSync(join(dir, 'other.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('the audit pseudonym secret is created once, whole; a second opener reads the same one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-pseudonym-'));
    const secret = join(dir, 'audit', 'pseudonym.key');
    const a = createPseudonymizer(secret).device('acme', 'truck-1');
    const b = createPseudonymizer(secret).device('acme', 'truck-1');
    expect(a).toBe(b);
    expect(readdirSync(join(dir, 'audit'))).toEqual(['pseudonym.key']);
    expect(statSync(secret).mode & 0o777).toBe(0o600);
  });

  it('no source file writes a state file except through the atomic helpers', () => {
    // Output files a user names (exports, previews) are not state; they are listed here by file.
    const allowed = new Set(['pki/secure-files.ts', 'keys/secure-file.ts', 'privacy/preview/policy-cli.ts']);
    const offenders = sourceFiles(SRC).filter((f) => !allowed.has(relative(SRC, f)))
      .filter((f) => /\b(writeFileSync|appendFileSync|createWriteStream)\s*\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    // backup-commands: the --out file a gateway streams, written under a temporary name and renamed.
    expect(offenders.sort()).toEqual(['cli/admin-commands.ts', 'cli/backup-commands.ts', 'cli/records-commands.ts']);
  });
});
