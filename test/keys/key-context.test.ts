import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openKeyContext } from '../../src/keys/key-context.ts';
import { KeysConfigSchema } from '../../src/config/keys-config.ts';
import { FakeKms } from '../helpers/fake-kms.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { expectCode, rootKeyB64, sealInput, sealRecord, tempDir } from './fixtures.ts';

let kms: FakeKms;
beforeEach(async () => {
  kms = await new FakeKms().start();
  kms.createKey('acme');
});
afterEach(async () => {
  await kms.close();
});

describe('openKeyContext', () => {
  it('routes each tenant to its configured provider; reads route by key reference', async () => {
    const dir = tempDir();
    const keys = KeysConfigSchema.parse({ awsKms: { endpoint: kms.endpoint, retryBudgetMs: 200 } });
    const config = { dataDir: join(dir, 'data'), keys, tenants: { acme: { keys: { provider: 'aws-kms' as const, kmsKeyId: 'alias/acme' } }, globex: {} } };
    const store = new MemoryDataKeyStore();
    const env = { THINGIQ_ROOT_KEY: rootKeyB64() };
    const ctx = await openKeyContext(config, store, { env, kmsClientConfig: { credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' } } });
    const a = sealInput({ tenantId: 'acme' });
    const g = sealInput({ tenantId: 'globex' });
    const ra = await sealRecord(ctx.sealer, a);
    const rg = await sealRecord(ctx.sealer, g);
    // Each DEK is under its device's KEK; the device KEK is under the tenant's provider.
    expect(ra.kekRef).toBe('device:acme:truck-1:1');
    expect(rg.kekRef).toBe('device:globex:truck-1:1');
    expect((await ctx.deviceKeks.vault.get('acme', 'truck-1'))?.tenantKekRef).toMatch(/^aws-kms:arn:/);
    expect((await ctx.deviceKeks.vault.get('globex', 'truck-1'))?.tenantKekRef).toBe('local:globex:v1');
    expect(kms.count('GenerateDataKey')).toBe(1);
    await ctx.close();
    const cold = await openKeyContext(config, store, { env, kmsClientConfig: { credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' } } });
    expect(await cold.sealer.open(ra)).toEqual(a.plaintext);
    expect(await cold.sealer.open(rg)).toEqual(g.plaintext);
    expect(kms.count('Decrypt')).toBe(1);
    await cold.close();
  });

  it('refuses a config where an aws-kms tenant has no key', async () => {
    const keys = KeysConfigSchema.parse({ provider: 'aws-kms' });
    await expectCode(openKeyContext({ dataDir: tempDir(), keys, tenants: { acme: {} } }, new MemoryDataKeyStore()), 'TIQ_ERR_CONFIG');
  });
});
