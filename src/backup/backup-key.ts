/**
 * The backup key: 256 fresh random bits per backup, wrapped by the key
 * store and written wrapped into the backup's header.
 *
 * - `local`: a dedicated backup KEK derived from the root key with HKDF-SHA256
 *   (RFC 5869) under its own label, so it is used for nothing else and needs
 *   no entry in the keyring; the backup key is wrapped with RFC 5649. A
 *   backup opens with the root key alone (not the keyring, which it never
 *   contains). kekRef `local:root-hkdf:backup-v1`.
 * - `aws-kms`: `GenerateDataKey` under `backup.kmsKeyId` with the encryption
 *   context `{purpose: thingiq-backup}`; `Decrypt` opens it. kekRef
 *   `aws-kms:<key ARN>`.
 */
import { DecryptCommand, GenerateDataKeyCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { BackupConfig } from '../config/backup-config.ts';
import { KeysConfigSchema } from '../config/keys-config.ts';
import { TiqError } from '../errors.ts';
import { unwrapKey, wrapKey } from '../keys/aes-key-wrap.ts';
import { KMS_KEK_PREFIX } from '../keys/aws-kms-key-provider.ts';
import { loadRootKey } from '../keys/root-key.ts';
import type { KeysConfigSlice } from '../keys/key-context.ts';

export const LOCAL_BACKUP_KEK_REF = 'local:root-hkdf:backup-v1';
const HKDF_INFO = 'thingiq.backup.kek.v1';
const KMS_CONTEXT = { purpose: 'thingiq-backup' };

export interface BackupKeySettings {
  readonly config: KeysConfigSlice & { readonly backup?: BackupConfig | undefined };
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly kmsClientConfig?: KMSClientConfig;
}

export interface SealedBackupKey {
  readonly key: KeyObject;
  readonly kekRef: string;
  readonly wrappedKey: string;
  readonly kekCheck?: string;
}

function keysOf(s: BackupKeySettings) {
  return s.config.keys ?? KeysConfigSchema.parse({});
}

/** The local backup KEK: HKDF of the root key (loaded as the local provider does, never created here). */
function localKek(s: BackupKeySettings): Buffer {
  const local = keysOf(s).local;
  const root = loadRootKey({
    envName: local.rootKeyEnv, env: s.env ?? process.env, mayCreate: false,
    file: local.rootKeyFile ? resolve(local.rootKeyFile) : join(resolve(s.config.dataDir), 'root.key'),
  }).key;
  const raw = root.export();
  try {
    return Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), HKDF_INFO, 32));
  } finally {
    raw.fill(0);
  }
}

function kekCheckOf(kek: Buffer): string {
  return createHmac('sha256', kek).update('thingiq.backup.kek-check').digest('base64').slice(0, 22);
}

function kmsClient(s: BackupKeySettings): KMSClient {
  const kms = keysOf(s).awsKms;
  return new KMSClient({ region: kms?.region ?? 'us-east-1', ...(kms?.endpoint ? { endpoint: kms.endpoint } : {}), ...s.kmsClientConfig });
}

function providerOf(s: BackupKeySettings): 'local' | 'aws-kms' {
  return s.config.backup?.keyProvider ?? keysOf(s).provider;
}

/** A fresh backup key, wrapped under the configured provider's backup KEK. */
export async function newBackupKey(s: BackupKeySettings): Promise<SealedBackupKey> {
  if (providerOf(s) === 'local') {
    const kek = localKek(s);
    const raw = randomBytes(32);
    try {
      const wrapped = wrapKey(createSecretKey(kek), raw);
      return { key: createSecretKey(raw), kekRef: LOCAL_BACKUP_KEK_REF, wrappedKey: wrapped.toString('base64'), kekCheck: kekCheckOf(kek) };
    } finally {
      raw.fill(0);
      kek.fill(0);
    }
  }
  const keyId = s.config.backup?.kmsKeyId;
  if (!keyId) throw new TiqError('TIQ_ERR_CONFIG', { problems: ['backup.kmsKeyId: required when backups are wrapped by aws-kms'] });
  const client = kmsClient(s);
  try {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: KMS_CONTEXT }));
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw new Error('KMS returned no data key');
    const raw = Buffer.from(out.Plaintext);
    const key = createSecretKey(raw);
    raw.fill(0);
    return { key, kekRef: `${KMS_KEK_PREFIX}${out.KeyId}`, wrappedKey: Buffer.from(out.CiphertextBlob).toString('base64') };
  } catch (err) {
    throw err instanceof TiqError ? err : new TiqError('TIQ_ERR_KEY_UNAVAILABLE', `KMS: ${(err as Error).name}`, { cause: err });
  } finally {
    client.destroy();
  }
}

/** Unwraps a backup's key with this key store; TIQ_ERR_BACKUP_KEY when it is not the key the backup was made under. */
export async function openBackupKey(s: BackupKeySettings, header: { kekRef: string; wrappedKey: string; kekCheck?: string | undefined }): Promise<KeyObject> {
  const wrapped = Buffer.from(header.wrappedKey, 'base64');
  if (header.kekRef === LOCAL_BACKUP_KEK_REF) {
    let kek: Buffer;
    try {
      kek = localKek(s);
    } catch (err) {
      throw new TiqError('TIQ_ERR_BACKUP_KEY', `no root key to open this backup with: ${(err as Error).message}`, { cause: err });
    }
    try {
      const check = Buffer.from(kekCheckOf(kek));
      if (header.kekCheck !== undefined && (check.length !== Buffer.byteLength(header.kekCheck) || !timingSafeEqual(check, Buffer.from(header.kekCheck)))) {
        throw new TiqError('TIQ_ERR_BACKUP_KEY', 'this backup was made under another root key');
      }
      const raw = unwrapKey(createSecretKey(kek), wrapped);
      const key = createSecretKey(raw);
      raw.fill(0);
      return key;
    } catch (err) {
      throw err instanceof TiqError ? err : new TiqError('TIQ_ERR_BACKUP_KEY', 'the backup key does not unwrap under this root key');
    } finally {
      kek.fill(0);
    }
  }
  if (header.kekRef.startsWith(KMS_KEK_PREFIX)) return openWithKms(s, header.kekRef.slice(KMS_KEK_PREFIX.length), wrapped);
  throw new TiqError('TIQ_ERR_BACKUP_KEY', `unknown key reference ${header.kekRef}`);
}

async function openWithKms(s: BackupKeySettings, keyArn: string, wrapped: Buffer): Promise<KeyObject> {
  const client = kmsClient(s);
  try {
    const out = await client.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: wrapped, EncryptionContext: KMS_CONTEXT }));
    if (!out.Plaintext) throw new Error('KMS returned no plaintext');
    const raw = Buffer.from(out.Plaintext);
    const key = createSecretKey(raw);
    raw.fill(0);
    return key;
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException' || name === 'NotFoundException' || name === 'AccessDeniedException') {
      throw new TiqError('TIQ_ERR_BACKUP_KEY', `KMS refused to open the backup key (${name})`, { cause: err });
    }
    throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', `KMS: ${name}`, { cause: err });
  } finally {
    client.destroy();
  }
}
