/**
 * The backup file on its own: a real data directory (real SQLite sink and
 * control store, real audit log, real PKI) backed up offline, then the file
 * damaged in each way an attacker or a bad disk could: every one fails
 * verification with its stable code, and a sound file verifies.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { MAGIC } from '../../src/backup/backup-format.ts';
import { createBackup, KEY_STORE_INSIDE_WARNING } from '../../src/backup/create-backup.ts';
import { checkPgDump } from '../../src/backup/pg-dump-check.ts';
import { LocalKeyProvider } from '../../src/keys/local-key-provider.ts';
import { extractBackup } from '../../src/backup/read-backup.ts';
import { verifyBackup } from '../../src/backup/verify-backup.ts';
import { parseConfig } from '../../src/config/load.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { initPki } from '../../src/pki/pki-store.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';

const base = mkdtempSync(join(tmpdir(), 'thingiq-backup-file-'));
const dataDir = join(base, 'data');
// A PostgreSQL sink too: never connected to by a backup, only listed as not in the file.
const config = parseConfig({
  dataDir, pkiDir: join(base, 'certs'), tenants: { acme: {}, globex: {} },
  storage: { sinks: { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'postgres', connectionString: 'postgres://thingiq@db.invalid/thingiq' } }, tenantSinks: { globex: 'eu' } },
});
const rootKey = randomBytes(32).toString('base64');
const keys = { config, env: { THINGIQ_ROOT_KEY: rootKey } };
const file = join(base, 'sound.tiqbak');
const MARKER = Buffer.from('dek-marker-7f3a9c');
let warnings: readonly string[] = [];

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

/** Offsets of each frame after the header: [start, end). */
function frames(buf: Buffer): [number, number][] {
  let at = MAGIC.length + 4 + buf.readUInt32BE(MAGIC.length);
  const out: [number, number][] = [];
  while (at < buf.length) {
    const end = at + 4 + buf.readUInt32BE(at) + 16;
    out.push([at, end]);
    at = end;
  }
  return out;
}

function variant(name: string, bytes: Buffer): string {
  const path = join(base, name);
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  initPki(config.pkiDir, ['localhost']);
  const sink = new SqliteSink('default', { path: join(dataDir, 'thingiq.db'), durability: 'fsync' });
  await sink.start();
  await sink.putDataKey({ tenantId: 'acme', dekId: 'd1', deviceId: 'truck-1', kekRef: 'local:acme:v1', wrapped: MARKER, createdAtMs: Date.now() });
  await sink.close();
  const control = await SqliteControlStore.open({ path: join(dataDir, 'control.db') });
  await control.put('legal-hold', 'acme/truck-1', { tenantId: 'acme', deviceId: 'truck-1', held: true, changedAtMs: Date.now() }, 'test');
  await control.close();
  new AuditLog(join(dataDir, 'audit')).append({ actor: 'test', role: 'operator', action: 'test', target: '-', tenant: '', result: 'ok', detail: '' });
  // The development layout: keyring and root key inside the data directory (a backup must leave them out, and warn).
  const provider = new LocalKeyProvider({ keyringFile: join(dataDir, 'keyring.json'), rootKey: { envName: 'UNSET_ROOT_KEY', env: {}, file: join(dataDir, 'root.key'), mayCreate: true } });
  await provider.start();
  await provider.generateDataKey('acme');
  await provider.close();
  warnings = (await createBackup({ config, resolvePath: (p) => p, out: file, keys })).warnings;
}, 60_000);


describe('a backup file', () => {
  it('verifies: every file, both databases and the audit chain', async () => {
    const report = await verifyBackup(file, keys);
    expect(report).toMatchObject({ ok: true, controlStore: { backend: 'sqlite', included: true }, audit: { entries: 1 } });
    expect(report.sinks).toEqual([{ name: 'default', type: 'sqlite', included: true }, { name: 'eu', type: 'postgres', included: false }]);
    expect(report.notIncluded).toEqual(['eu']);
    expect(readFileSync(file).includes(MARKER)).toBe(false); // encrypted: the wrapped key's bytes are not in clear
  });

  it('holds the databases, audit log and PKI, and neither the keyring nor the root key', async () => {
    const dir = mkdtempSync(join(base, 'extract-'));
    const { manifest } = await extractBackup(file, keys, dir);
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['control/control.db', 'sinks/default.db', 'audit/audit.jsonl', 'audit/chain.key', 'audit/checkpoint.json', 'pki/ca.key', 'pki/ca.crt']));
    expect(paths.some((p) => /keyring|root\.key/.test(p))).toBe(false);
    expect(manifest.excludedKeyStore).toEqual(expect.arrayContaining(['keyring.json', 'root.key']));
    expect(readFileSync(join(dir, 'sinks', 'default.db')).includes(MARKER)).toBe(true);
    // Not a byte of the root key or the sealed keyring in any decrypted file.
    const rootKey = readFileSync(join(dataDir, 'root.key'), 'utf8').trim();
    const keyring = JSON.parse(readFileSync(join(dataDir, 'keyring.json'), 'utf8')) as { ciphertext: string };
    const secrets = [Buffer.from(rootKey), Buffer.from(rootKey, 'base64'), Buffer.from(keyring.ciphertext.slice(0, 40)), Buffer.from(keyring.ciphertext, 'base64').subarray(0, 32)];
    for (const f of manifest.files) {
      const bytes = readFileSync(join(dir, f.path));
      for (const secret of secrets) expect(bytes.includes(secret), f.path).toBe(false);
    }
    expect(warnings).toEqual([KEY_STORE_INSIDE_WARNING]);
  });

  it('backup verify --pg-dump refuses a file that is not a pg_dump archive', async () => {
    await expectCode(checkPgDump(join(dataDir, 'control.db')), 'TIQ_ERR_BACKUP_CORRUPT');
  });

  it('a flipped byte anywhere in a frame fails with TIQ_ERR_BACKUP_CORRUPT', async () => {
    const buf = readFileSync(file);
    for (const [start, end] of [frames(buf)[0]!, frames(buf).at(-1)!]) {
      const bad = Buffer.from(buf);
      bad[Math.floor((start + 4 + end) / 2)]! ^= 0x01;
      await expectCode(verifyBackup(variant(`flip-${start}.tiqbak`, bad), keys), 'TIQ_ERR_BACKUP_CORRUPT');
    }
  });

  it('a truncated file fails, cut inside a frame or cleanly between frames', async () => {
    const buf = readFileSync(file);
    const f = frames(buf);
    await expectCode(verifyBackup(variant('cut-inside.tiqbak', buf.subarray(0, buf.length - 7)), keys), 'TIQ_ERR_BACKUP_CORRUPT');
    await expectCode(verifyBackup(variant('cut-between.tiqbak', buf.subarray(0, f.at(-1)![0])), keys), 'TIQ_ERR_BACKUP_CORRUPT');
  });

  it('reordered, repeated or appended frames fail', async () => {
    const buf = readFileSync(file);
    const f = frames(buf);
    const head = buf.subarray(0, f[0]![0]);
    const part = (i: number) => buf.subarray(f[i]![0], f[i]![1]);
    const swapped = Buffer.concat([head, part(1), part(0), ...f.slice(2).map((_, i) => part(i + 2))]);
    await expectCode(verifyBackup(variant('swapped.tiqbak', swapped), keys), 'TIQ_ERR_BACKUP_CORRUPT');
    const repeated = Buffer.concat([head, part(0), ...f.map((_, i) => part(i))]);
    await expectCode(verifyBackup(variant('repeated.tiqbak', repeated), keys), 'TIQ_ERR_BACKUP_CORRUPT');
    await expectCode(verifyBackup(variant('appended.tiqbak', Buffer.concat([buf, part(0)])), keys), 'TIQ_ERR_BACKUP_CORRUPT');
  });

  it('another root key fails with TIQ_ERR_BACKUP_KEY; so does none at all', async () => {
    await expectCode(verifyBackup(file, { config, env: { THINGIQ_ROOT_KEY: randomBytes(32).toString('base64') } }), 'TIQ_ERR_BACKUP_KEY');
    await expectCode(verifyBackup(file, { config, env: {} }), 'TIQ_ERR_BACKUP_KEY');
  });

  it('a file that is not a backup fails with TIQ_ERR_BACKUP_CORRUPT', async () => {
    const other = join(base, 'not-a-backup');
    copyFileSync(join(dataDir, 'control.db'), other);
    await expectCode(verifyBackup(other, keys), 'TIQ_ERR_BACKUP_CORRUPT');
  });

});
