import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGroupOrWorldAccessible, writeSecretFileAtomic } from '../../src/keys/secure-file.ts';

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('secret files', () => {
  it('are written owner-only in an owner-only directory, replaced whole, with no temporary file left', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tiq-secret-')), 'keys');
    const path = join(dir, 'root.key');
    writeSecretFileAtomic(path, 'first\n');
    writeSecretFileAtomic(path, Buffer.from('second\n'));
    expect(readFileSync(path, 'utf8')).toBe('second\n');
    expect(mode(path)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    expect(readdirSync(dir)).toEqual(['root.key']);
    expect(isGroupOrWorldAccessible(path)).toBe(false);
  });

  it('replacing a file someone widened makes it owner-only again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-secret-'));
    const path = join(dir, 'keyring.json');
    writeSecretFileAtomic(path, 'a');
    chmodSync(path, 0o644);
    expect(isGroupOrWorldAccessible(path)).toBe(true);
    writeSecretFileAtomic(path, 'b');
    expect(mode(path)).toBe(0o600);
  });
});
