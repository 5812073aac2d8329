/**
 * Builds the keys area from configuration: the providers the config uses,
 * routed per tenant, the device key vault, and the record sealer over the
 * given DataKeyStore (the storage sink implements it). The gateway and the
 * CLI both start here.
 */
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import { resolve } from 'node:path';
import { TiqError } from '../errors.ts';
import { DeviceKeks } from './device-keks.ts';
import { DeviceKeyVault } from './device-key-vault.ts';
import type { DeviceKekStore } from './device-kek-store.ts';
import type { DataKeyStore, KeyProvider } from './key-provider.ts';
import { KeysConfigSchema, type KeysConfig } from '../config/keys-config.ts';
import { deviceVaultPath, type KeysConfigSlice } from './key-store-paths.ts';
import { createKeyProvider, type ProviderSettings } from './provider-registry.ts';
import { RecordSealer } from './record-sealer.ts';
import type { SharedKeyringStore } from './shared-keyring.ts';
import { TenantKeyRouter } from './tenant-key-router.ts';

export type { KeysConfigSlice } from './key-store-paths.ts';

export interface KeyContextOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly kmsClientConfig?: KMSClientConfig;
  /** Cluster mode: the shared keyring of the local provider (closed with it). */
  readonly sharedKeyring?: SharedKeyringStore;
  /** Cluster mode: the device KEKs every node shares, instead of the vault file (closed with the context). */
  readonly deviceVault?: DeviceKekStore;
}

export interface KeyContext {
  readonly provider: TenantKeyRouter;
  readonly store: DataKeyStore;
  readonly sealer: RecordSealer;
  /** The device KEKs and their vault (erasure destroys a device's KEK there). */
  readonly deviceKeks: DeviceKeks;
  /** Closes the providers and the vault (not the store: its owner closes it). */
  close(): Promise<void>;
}

export async function openKeyContext(config: KeysConfigSlice, store: DataKeyStore, options: KeyContextOptions = {}): Promise<KeyContext> {
  const keys = config.keys ?? KeysConfigSchema.parse({});
  validateTenantKeys(keys, config.tenants);
  const providerOf = (tenantId: string): string => config.tenants[tenantId]?.keys?.provider ?? keys.provider;
  const settings: ProviderSettings = {
    keys,
    dataDir: resolve(config.dataDir),
    tenantKeys: (tenantId) => config.tenants[tenantId]?.keys,
    env: options.env ?? process.env,
    ...(options.now ? { now: options.now } : {}),
    ...(options.kmsClientConfig ? { kmsClientConfig: options.kmsClientConfig } : {}),
    ...(options.sharedKeyring ? { sharedKeyring: options.sharedKeyring } : {}),
  };
  const names = new Set([keys.provider, ...Object.keys(config.tenants).map(providerOf)]);
  const providers = new Map<string, KeyProvider>([...names].map((n) => [n, createKeyProvider(n, settings)]));
  // No tenant on the local provider: nothing else closes the shared keyring.
  if (!names.has('local')) await options.sharedKeyring?.close();
  const router = new TenantKeyRouter(providers, providerOf);
  await router.start();
  let vault: DeviceKekStore;
  try {
    vault = options.deviceVault ?? DeviceKeyVault.open(deviceVaultPath({ ...config, keys }));
  } catch (err) {
    await router.close();
    throw err;
  }
  const now = options.now ? { now: options.now } : {};
  const deviceKeks = new DeviceKeks({ vault, provider: router, maxCached: keys.deviceVault.maxCachedKeys, ...now });
  const sealer = new RecordSealer({ provider: router, store, limits: keys.dekCache, deviceKeks, ...now });
  return {
    provider: router,
    store,
    sealer,
    deviceKeks,
    async close() {
      sealer.close();
      deviceKeks.close();
      await vault.close();
      await router.close();
    },
  };
}

/** Every tenant on aws-kms needs its key; all problems are reported at once. */
export function validateTenantKeys(keys: KeysConfig, tenants: KeysConfigSlice['tenants']): void {
  const problems: string[] = [];
  for (const [tenantId, tenant] of Object.entries(tenants)) {
    const provider = tenant.keys?.provider ?? keys.provider;
    if (provider === 'aws-kms' && !tenant.keys?.kmsKeyId) problems.push(`tenants.${tenantId}.keys.kmsKeyId: required with the aws-kms provider`);
  }
  if (problems.length) throw new TiqError('TIQ_ERR_CONFIG', { problems });
}
