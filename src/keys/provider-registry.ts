/**
 * Key providers register by name; config names the provider per tenant.
 * Each factory gets the same settings and takes only its own slice.
 */
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import { join, resolve } from 'node:path';
import { TiqError } from '../errors.ts';
import { AwsKmsKeyProvider } from './aws-kms-key-provider.ts';
import type { KeyProvider } from './key-provider.ts';
import { AwsKmsProviderConfigSchema, type KeysConfig, type TenantKeysConfig } from '../config/keys-config.ts';
import { LocalKeyProvider } from './local-key-provider.ts';
import type { SharedKeyringStore } from './shared-keyring.ts';
import { SharedLocalKeyProvider } from './shared-local-key-provider.ts';

export interface ProviderSettings {
  readonly keys: KeysConfig;
  /** Resolved data directory: default home of the keyring and the root key. */
  readonly dataDir: string;
  readonly tenantKeys: (tenantId: string) => TenantKeysConfig | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  /** Extra AWS SDK client settings (tests: static credentials). */
  readonly kmsClientConfig?: KMSClientConfig;
  /** Cluster mode: the local provider's KEK versions live here, shared by every node, not in a keyring file. */
  readonly sharedKeyring?: SharedKeyringStore;
}

export type KeyProviderFactory = (settings: ProviderSettings) => KeyProvider;

const factories = new Map<string, KeyProviderFactory>();

export function registerKeyProvider(name: string, factory: KeyProviderFactory): void {
  factories.set(name, factory);
}

export function createKeyProvider(name: string, settings: ProviderSettings): KeyProvider {
  const factory = factories.get(name);
  if (!factory) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`keys.provider: unknown key provider "${name}"`] });
  return factory(settings);
}

registerKeyProvider('local', (s) => {
  const local = s.keys.local;
  const keyringFile = local.keyringFile ? resolve(local.keyringFile) : join(s.dataDir, 'keyring.json');
  const rootKey = {
    envName: local.rootKeyEnv,
    env: s.env,
    file: local.rootKeyFile ? resolve(local.rootKeyFile) : join(s.dataDir, 'root.key'),
    mayCreate: local.createRootKey,
  };
  const now = s.now ? { now: s.now } : {};
  if (s.sharedKeyring) return new SharedLocalKeyProvider({ store: s.sharedKeyring, rootKey, importFile: keyringFile, ...now });
  return new LocalKeyProvider({ keyringFile, rootKey, ...now });
});

registerKeyProvider('aws-kms', (s) => new AwsKmsKeyProvider({
  config: s.keys.awsKms ?? AwsKmsProviderConfigSchema.parse({}),
  keyIdFor: (tenantId) => s.tenantKeys(tenantId)?.kmsKeyId,
  ...(s.kmsClientConfig ? { clientConfig: s.kmsClientConfig } : {}),
  ...(s.now ? { now: s.now } : {}),
}));
