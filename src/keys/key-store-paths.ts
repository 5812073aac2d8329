/**
 * Where the key store keeps its files, from the resolved config: the local
 * keyring, the root key file and the device key vault. Backups of the data
 * directory exclude them (docs/keys.md, "What erasure guarantees"): a copy
 * of the vault from before an erasure would bring the destroyed device keys
 * back.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KeysConfigSchema, type KeysConfig, type TenantKeysConfig } from '../config/keys-config.ts';
import { DeviceKeyVault, type VaultTombstone } from './device-key-vault.ts';

/** The slice of the gateway config the keys area reads (GatewayConfig fits it). */
export interface KeysConfigSlice {
  /** The data directory, resolved the way the gateway resolves it. */
  readonly dataDir: string;
  readonly keys?: KeysConfig | undefined;
  readonly tenants: Readonly<Record<string, { readonly keys?: TenantKeysConfig | undefined }>>;
}

export const DEVICE_VAULT_FILE = 'device-keys.db';

export interface KeyStoreFiles {
  /** The device key vault and its rollback journal (present only during a write). */
  readonly deviceVault: readonly [vault: string, journal: string];
  /** The local provider's keyring and root key files; absent when no tenant uses `local`. */
  readonly keyringFile: string | undefined;
  readonly rootKeyFile: string | undefined;
}

function keysOf(config: KeysConfigSlice): KeysConfig {
  return config.keys ?? KeysConfigSchema.parse({});
}

/** `local.keyringFile`, default `<dataDir>/keyring.json` (as the local provider reads it). */
export function keyringFilePath(config: KeysConfigSlice): string {
  const file = keysOf(config).local.keyringFile;
  return file ? resolve(file) : join(resolve(config.dataDir), 'keyring.json');
}

/** `keys.deviceVault.file`, default `device-keys.db` next to the keyring file. */
export function deviceVaultPath(config: KeysConfigSlice): string {
  const file = keysOf(config).deviceVault.file;
  return file ? resolve(file) : join(dirname(keyringFilePath(config)), DEVICE_VAULT_FILE);
}

export function keyStoreFiles(config: KeysConfigSlice): KeyStoreFiles {
  const keys = keysOf(config);
  const usesLocal = keys.provider === 'local' || Object.values(config.tenants).some((t) => t.keys?.provider === 'local');
  const vault = deviceVaultPath(config);
  return {
    deviceVault: [vault, `${vault}-journal`],
    keyringFile: usesLocal ? keyringFilePath(config) : undefined,
    rootKeyFile: usesLocal ? (keys.local.rootKeyFile ? resolve(keys.local.rootKeyFile) : join(resolve(config.dataDir), 'root.key')) : undefined,
  };
}

/**
 * Every file of the key store as an absolute path (the vault and its
 * journal, and with the local provider the keyring and the root key):
 * what a backup of the data directory must leave out.
 */
export function keyStorePaths(config: KeysConfigSlice): string[] {
  const f = keyStoreFiles(config);
  return [...f.deviceVault, ...(f.keyringFile ? [f.keyringFile] : []), ...(f.rootKeyFile ? [f.rootKeyFile] : [])];
}

/**
 * The vault's tombstones for the configured key store (what a restore must
 * re-apply), without opening any key: none when there is no vault yet.
 */
export async function listVaultTombstones(config: KeysConfigSlice): Promise<readonly VaultTombstone[]> {
  const path = deviceVaultPath(config);
  if (!existsSync(path)) return [];
  const vault = DeviceKeyVault.open(path);
  try {
    return await vault.listTombstones();
  } finally {
    vault.close();
  }
}
