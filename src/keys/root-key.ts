/**
 * The local provider's root key: 32 bytes, base64, from an environment
 * variable or an owner-only file. It seals the keyring and nothing else.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { TiqError } from '../errors.ts';
import { isGroupOrWorldAccessible, writeSecretFileAtomic } from './secure-file.ts';

export const ROOT_KEY_BYTES = 32;

export interface RootKeySource {
  readonly envName: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly file: string;
  /** May a missing file be created (development first start)? */
  readonly mayCreate: boolean;
}

/** Where the key came from, for log lines (never the key itself). */
export interface LoadedRootKey {
  readonly key: KeyObject;
  readonly origin: 'env' | 'file' | 'created';
}

export function loadRootKey(source: RootKeySource): LoadedRootKey {
  const fromEnv = source.env[source.envName];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { key: decodeRootKey(fromEnv, `environment variable ${source.envName}`), origin: 'env' };
  }
  if (existsSync(source.file)) {
    if (isGroupOrWorldAccessible(source.file)) {
      // Same rule as OpenSSH for private keys: refuse rather than trust a readable secret.
      throw new TiqError('TIQ_ERR_KEYRING_SEALED', `root key file ${source.file} must be mode 0600 (chmod 600 it)`);
    }
    return { key: decodeRootKey(readFileSync(source.file, 'utf8'), `file ${source.file}`), origin: 'file' };
  }
  if (!source.mayCreate) {
    throw new TiqError('TIQ_ERR_KEYRING_SEALED', `no root key: set ${source.envName} or create ${source.file} (base64 of 32 random bytes, mode 0600)`);
  }
  const raw = randomBytes(ROOT_KEY_BYTES);
  writeSecretFileAtomic(source.file, `${raw.toString('base64')}\n`);
  const key = createSecretKey(raw);
  raw.fill(0);
  return { key, origin: 'created' };
}

function decodeRootKey(text: string, where: string): KeyObject {
  const trimmed = text.trim();
  const raw = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || raw.length !== ROOT_KEY_BYTES) {
    throw new TiqError('TIQ_ERR_KEYRING_SEALED', `root key from ${where} must be base64 of exactly ${ROOT_KEY_BYTES} bytes`);
  }
  const key = createSecretKey(raw);
  raw.fill(0);
  return key;
}
