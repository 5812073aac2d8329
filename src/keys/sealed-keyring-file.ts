/**
 * The local keyring on disk: every tenant's KEK versions, as JSON sealed with
 * AES-256-GCM under the root key (NIST SP 800-38D), written atomically 0600.
 * The envelope names its format so a wrong file is told apart from a wrong key.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TiqError } from '../errors.ts';
import { writeSecretFileAtomic } from './secure-file.ts';

export interface KekVersion {
  readonly version: number;
  readonly createdAtMs: number;
  readonly key: KeyObject;
}

export interface TenantKeyring {
  primary: number;
  readonly versions: Map<number, KekVersion>;
}

export type Keyring = Map<string, TenantKeyring>;

const FORMAT = 'thingiq.keyring';
const FORMAT_VERSION = 1;
const AAD = Buffer.from(`${FORMAT}.v${FORMAT_VERSION}`, 'utf8');

const SealedFileSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(FORMAT_VERSION),
  iv: z.base64(),
  tag: z.base64(),
  ciphertext: z.base64(),
});

const PlainSchema = z.object({
  tenants: z.record(z.string(), z.object({
    primary: z.number().int().min(1),
    versions: z.array(z.object({ version: z.number().int().min(1), createdAtMs: z.number().int(), key: z.base64() })),
  })),
});

export function writeKeyring(path: string, rootKey: KeyObject, keyring: Keyring): void {
  const plain = Buffer.from(JSON.stringify(toPlain(keyring)), 'utf8');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', rootKey, iv, { authTagLength: 16 });
  cipher.setAAD(AAD);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  const file = { format: FORMAT, version: FORMAT_VERSION, iv: b64(iv), tag: b64(cipher.getAuthTag()), ciphertext: b64(ciphertext) };
  writeSecretFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** Throws TIQ_ERR_KEYRING_SEALED when the file is not a keyring or the root key does not open it. */
export function readKeyring(path: string, rootKey: KeyObject): Keyring {
  const sealed = parseSealedFile(path);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', rootKey, Buffer.from(sealed.iv, 'base64'), { authTagLength: 16 });
    decipher.setAAD(AAD);
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    plain = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new TiqError('TIQ_ERR_KEYRING_SEALED', `the root key does not unseal ${path} (wrong THINGIQ_ROOT_KEY or root key file?)`);
  }
  try {
    return fromPlain(PlainSchema.parse(JSON.parse(plain.toString('utf8'))));
  } finally {
    plain.fill(0);
  }
}

function parseSealedFile(path: string): z.infer<typeof SealedFileSchema> {
  try {
    return SealedFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    throw new TiqError('TIQ_ERR_KEYRING_SEALED', `${path} is not a ThingIQ keyring file`);
  }
}

function toPlain(keyring: Keyring): z.infer<typeof PlainSchema> {
  const tenants: z.infer<typeof PlainSchema>['tenants'] = {};
  for (const [tenantId, t] of keyring) {
    tenants[tenantId] = {
      primary: t.primary,
      versions: [...t.versions.values()].map((v) => ({ version: v.version, createdAtMs: v.createdAtMs, key: b64(v.key.export()) })),
    };
  }
  return { tenants };
}

function fromPlain(plain: z.infer<typeof PlainSchema>): Keyring {
  const keyring: Keyring = new Map();
  for (const [tenantId, t] of Object.entries(plain.tenants)) {
    const versions = new Map<number, KekVersion>();
    for (const v of t.versions) {
      const raw = Buffer.from(v.key, 'base64');
      versions.set(v.version, { version: v.version, createdAtMs: v.createdAtMs, key: createSecretKey(raw) });
      raw.fill(0);
    }
    keyring.set(tenantId, { primary: t.primary, versions });
  }
  return keyring;
}

function b64(buf: Buffer): string {
  return buf.toString('base64');
}
