/**
 * Backups wrapped by AWS KMS: the real SDK against a local endpoint that
 * speaks the KMS JSON protocol (test/helpers/fake-kms.ts). The header names
 * the key's ARN and carries only the KMS ciphertext blob; another key, or
 * none, cannot open it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup } from '../../src/backup/create-backup.ts';
import { readHeader } from '../../src/backup/read-backup.ts';
import { verifyBackup } from '../../src/backup/verify-backup.ts';
import { parseConfig } from '../../src/config/load.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { FakeKms } from '../helpers/fake-kms.ts';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const base = mkdtempSync(join(tmpdir(), 'thingiq-backup-kms-'));
let kms: FakeKms;

beforeAll(async () => {
  kms = await new FakeKms().start();
  const sink = new SqliteSink('default', { path: join(base, 'data', 'thingiq.db'), durability: 'fsync' });
  await sink.start();
  await sink.close();
});
afterAll(async () => { await kms.close(); });

function settings(kmsKeyId: string) {
  const config = parseConfig({ dataDir: join(base, 'data'), pkiDir: join(base, 'certs'), keys: { provider: 'aws-kms', awsKms: { endpoint: kms.endpoint } }, backup: { kmsKeyId } });
  return { config, env: {}, kmsClientConfig: { credentials } };
}

describe('a backup wrapped by KMS', () => {
  it('is made under the configured key, names its ARN, and verifies with KMS', async () => {
    const { arn } = kms.createKey('thingiq-backup');
    const out = join(base, 'kms.tiqbak');
    const made = await createBackup({ config: settings('alias/thingiq-backup').config, resolvePath: (p) => p, out, keys: settings('alias/thingiq-backup') });
    expect(made.manifest.sinks).toEqual([{ name: 'default', type: 'sqlite', included: true }]);
    const { header } = readHeader(out);
    expect(header.kekRef).toBe(`aws-kms:${arn}`);
    expect(Object.keys(header).sort()).toEqual(['createdAt', 'format', 'kekRef', 'version', 'wrappedKey']);
    expect(readFileSync(out).length).toBe(made.bytes);
    await expect(verifyBackup(out, settings('alias/thingiq-backup'))).resolves.toMatchObject({ ok: true, kekRef: `aws-kms:${arn}` });
  });

  it('a KMS that refuses the blob (another account\'s endpoint) fails with TIQ_ERR_BACKUP_KEY', async () => {
    const out = join(base, 'kms.tiqbak');
    const other = await new FakeKms().start();
    try {
      other.createKey('thingiq-backup');
      const s = settings('alias/thingiq-backup');
      const elsewhere = { ...s, config: parseConfig({ ...s.config, keys: { provider: 'aws-kms', awsKms: { endpoint: other.endpoint } } }) };
      await expect(verifyBackup(out, elsewhere)).rejects.toMatchObject({ code: expect.stringMatching(/^TIQ_ERR_BACKUP_KEY$/) });
    } finally {
      await other.close();
    }
  });
});
