import { describe, expect, it } from 'vitest';
import { validateTenantKeys } from '../../src/keys/key-context.ts';
import { KeysConfigSchema, TenantKeysConfigSchema } from '../../src/config/keys-config.ts';
import { expectCode } from './fixtures.ts';

describe('keys config', () => {
  it('defaults to the local provider and DEK limits far below 2^32 (NIST SP 800-38D §8.3)', () => {
    const cfg = KeysConfigSchema.parse({});
    expect(cfg.provider).toBe('local');
    expect(cfg.local.rootKeyEnv).toBe('THINGIQ_ROOT_KEY');
    expect(cfg.dekCache.maxMessages).toBe(2 ** 20);
    expect(cfg.dekCache.maxAgeMs).toBe(24 * 3600_000);
  });

  it('rejects unknown keys, unknown providers and out-of-range limits, all at once', () => {
    const result = KeysConfigSchema.safeParse({ provider: 'vault', extra: 1, dekCache: { maxMessages: 2 ** 33 }, awsKms: { endpoint: 'not a url' } });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['provider', '', 'dekCache.maxMessages', 'awsKms.endpoint']));
    expect(TenantKeysConfigSchema.safeParse({ kmsKeyId: 'alias/x', region: 'eu' }).success).toBe(false);
  });

  it('requires kmsKeyId for every tenant on aws-kms', async () => {
    const keys = KeysConfigSchema.parse({ provider: 'aws-kms', awsKms: { region: 'eu-central-1' } });
    await expectCode(() => validateTenantKeys(keys, { acme: {}, globex: { keys: { kmsKeyId: 'alias/globex' } } }), 'TIQ_ERR_CONFIG');
    expect(() => validateTenantKeys(keys, { globex: { keys: { kmsKeyId: 'alias/globex' } }, local: { keys: { provider: 'local' } } })).not.toThrow();
  });
});
