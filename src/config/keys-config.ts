/**
 * Key provider configuration: the gateway-wide `keys` section and a tenant's
 * `keys` section. Unknown keys are rejected (config is validated once, at start).
 */
import { z } from 'zod';

const HOUR_MS = 3600 * 1000;

export const PROVIDER_NAMES = ['local', 'aws-kms'] as const;
export const ProviderNameSchema = z.enum(PROVIDER_NAMES);
export type ProviderName = z.infer<typeof ProviderNameSchema>;

export const LocalProviderConfigSchema = z.object({
  /** Sealed keyring file; default `<dataDir>/keyring.json`. */
  keyringFile: z.string().min(1).optional(),
  /** Environment variable holding the root key (base64 of 32 bytes). Wins over the file. */
  rootKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default('THINGIQ_ROOT_KEY'),
  /** Root key file (base64 of 32 bytes, mode 0600); default `<dataDir>/root.key`. */
  rootKeyFile: z.string().min(1).optional(),
  /**
   * Development convenience: create the root key file (0600) on first start when
   * neither the variable nor the file exists and no keyring exists yet.
   * Turn off in production so a missing secret fails loudly.
   */
  createRootKey: z.boolean().default(true),
}).strict();
export type LocalProviderConfig = z.infer<typeof LocalProviderConfigSchema>;

export const AwsKmsProviderConfigSchema = z.object({
  region: z.string().min(1).default('us-east-1'),
  /** Override the KMS endpoint (VPC endpoint, FIPS endpoint, local test server). */
  endpoint: z.url().optional(),
  /** Total time one key operation may spend retrying throttling and 5xx before TIQ_ERR_KEY_UNAVAILABLE. */
  retryBudgetMs: z.number().int().min(0).max(120_000).default(5_000),
  /** First backoff; doubles per attempt with full jitter. */
  retryBaseMs: z.number().int().min(1).max(10_000).default(50),
}).strict();
export type AwsKmsProviderConfig = z.infer<typeof AwsKmsProviderConfigSchema>;

export const DekCacheConfigSchema = z.object({
  /**
   * Retire a data key after this many encryptions. NIST SP 800-38D §8.3 caps a
   * key used with random 96-bit IVs at 2^32 invocations; 2^20 keeps the IV
   * collision probability negligible (about 2^-57).
   */
  maxMessages: z.number().int().min(1).max(2 ** 32 - 1).default(2 ** 20),
  /** Retire a data key this long after it was made, whatever its count. */
  maxAgeMs: z.number().int().min(1000).max(30 * 24 * HOUR_MS).default(24 * HOUR_MS),
  /** Unwrapped keys kept for reads (open). */
  maxOpenKeys: z.number().int().min(1).max(1_000_000).default(10_000),
}).strict();
export type DekCacheConfig = z.infer<typeof DekCacheConfigSchema>;

export const DeviceVaultConfigSchema = z.object({
  /**
   * The device key vault (SQLite, secure_delete, rollback journal): every
   * device's key-encryption key, wrapped under its tenant's KEK, and the
   * tombstones of destroyed ones. Default: `device-keys.db` next to the
   * keyring file. Keep it out of the data directory's backups.
   */
  file: z.string().min(1).optional(),
  /** Unwrapped device KEKs kept in memory (least recently used go first). */
  maxCachedKeys: z.number().int().min(1).max(1_000_000).default(10_000),
}).strict();
export type DeviceVaultConfig = z.infer<typeof DeviceVaultConfigSchema>;

export const KeysConfigSchema = z.object({
  /** Provider for tenants that do not choose one. */
  provider: ProviderNameSchema.default('local'),
  local: LocalProviderConfigSchema.prefault({}),
  awsKms: AwsKmsProviderConfigSchema.optional(),
  dekCache: DekCacheConfigSchema.prefault({}),
  deviceVault: DeviceVaultConfigSchema.prefault({}),
}).strict();
export type KeysConfig = z.infer<typeof KeysConfigSchema>;

export const TenantKeysConfigSchema = z.object({
  provider: ProviderNameSchema.optional(),
  /** KMS key id, key ARN, alias name (`alias/...`) or alias ARN; required when the provider is aws-kms. */
  kmsKeyId: z.string().min(1).max(2048).optional(),
}).strict();
export type TenantKeysConfig = z.infer<typeof TenantKeysConfigSchema>;
