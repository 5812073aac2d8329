import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsKmsKeyProvider } from '../../src/keys/aws-kms-key-provider.ts';
import { AwsKmsProviderConfigSchema } from '../../src/config/keys-config.ts';
import { FakeKms } from '../helpers/fake-kms.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { expectCode, newSealer, sealInput, sealRecord } from './fixtures.ts';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

let kms: FakeKms;
let keyIds: Record<string, string>;

beforeEach(async () => {
  kms = await new FakeKms().start();
  keyIds = { acme: kms.createKey('acme').keyId, globex: 'alias/globex' };
  kms.createKey('globex');
});
afterEach(async () => {
  await kms.close();
});

function kmsProvider(retryBudgetMs = 300): AwsKmsKeyProvider {
  return new AwsKmsKeyProvider({
    config: AwsKmsProviderConfigSchema.parse({ endpoint: kms.endpoint, retryBudgetMs, retryBaseMs: 5 }),
    keyIdFor: (t) => keyIds[t],
    clientConfig: { credentials },
  });
}

describe('AwsKmsKeyProvider (real SDK, local KMS endpoint)', () => {
  it('round-trips records; DEKs come from GenerateDataKey and cold ones from Decrypt', async () => {
    const provider = kmsProvider();
    const { sealer, store } = newSealer(provider);
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    expect(record.kekRef).toMatch(/^aws-kms:arn:aws:kms:us-east-1:111122223333:key\//);
    const cold = newSealer(kmsProvider(), store).sealer;
    expect(await cold.open(record)).toEqual(input.plaintext);
    expect(kms.count('GenerateDataKey')).toBe(1);
    expect(kms.count('Decrypt')).toBe(1);
  });

  it('resolves an alias to the key ARN', async () => {
    const record = await sealRecord(newSealer(kmsProvider()).sealer, sealInput({ tenantId: 'globex' }));
    expect(record.kekRef).toMatch(/^aws-kms:arn:aws:kms:.*:key\//);
  });

  it('sends exactly {tenant, purpose} as encryption context, never a device id', async () => {
    const { sealer } = newSealer(kmsProvider());
    await sealRecord(sealer, sealInput({ deviceId: 'truck-77' }));
    const contexts = kms.calls.flatMap((c) => c.encryptionContexts);
    expect(contexts.length).toBeGreaterThan(0);
    for (const ctx of contexts) expect(ctx).toEqual({ tenant: 'acme', purpose: 'thingiq-dek' });
  });

  it('cannot unwrap one tenant\'s DEK as another\'s (context mismatch → TIQ_ERR_DECRYPT)', async () => {
    const provider = kmsProvider();
    const dek = await provider.generateDataKey('acme');
    await expectCode(provider.unwrapDataKey('globex', dek.wrapped, dek.kekRef), 'TIQ_ERR_DECRYPT');
  });

  it('makes no KMS call per message', async () => {
    const { sealer } = newSealer(kmsProvider());
    for (let i = 0; i < 2000; i++) await sealer.seal(sealInput({ deviceId: `truck-${i % 4}` }));
    expect(kms.calls).toHaveLength(4);
  });

  it('retries throttling and 5xx within the budget, then succeeds', async () => {
    kms.failNext('throttle', 2);
    kms.failNext('server-error');
    kms.failNext('unavailable');
    const record = await sealRecord(newSealer(kmsProvider(5_000)).sealer);
    expect(record.dekId).toBeTruthy();
    expect(kms.count('GenerateDataKey')).toBe(5);
  });

  it('outage: bounded retries, then TIQ_ERR_KEY_UNAVAILABLE (retryable), nothing stored; recovers', async () => {
    const store = new MemoryDataKeyStore();
    const { sealer } = newSealer(kmsProvider(300), store);
    kms.outage = 'throttle';
    const started = Date.now();
    const err = await Promise.resolve(sealer.seal(sealInput())).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIQ_ERR_KEY_UNAVAILABLE', retryable: true, mqtt: 'not-acknowledged' });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(kms.count('GenerateDataKey')).toBeGreaterThan(1);
    expect(store.keys.size).toBe(0);
    kms.outage = undefined;
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    expect(await sealer.open(record)).toEqual(input.plaintext);
  });

  it('endpoint down (connection refused) also ends in TIQ_ERR_KEY_UNAVAILABLE', async () => {
    const provider = kmsProvider(200);
    await kms.close();
    await expectCode(provider.generateDataKey('acme'), 'TIQ_ERR_KEY_UNAVAILABLE');
    expect((await provider.health()).ok).toBe(false);
  });

  it('maps InvalidCiphertextException to TIQ_ERR_DECRYPT without retrying', async () => {
    const provider = kmsProvider();
    const dek = await provider.generateDataKey('acme');
    kms.failNext('invalid-ciphertext');
    await expectCode(provider.unwrapDataKey('acme', dek.wrapped, dek.kekRef), 'TIQ_ERR_DECRYPT');
    expect(kms.count('Decrypt')).toBe(1);
  });

  it('rewraps with ReEncrypt under a newly configured key; records stay readable', async () => {
    const provider = kmsProvider();
    const { sealer, store } = newSealer(provider);
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    const next = kms.createKey('acme-2');
    keyIds.acme = 'alias/acme-2';
    const dek = await store.getDataKey('acme', record.dekId);
    if (!dek) throw new Error('missing DEK');
    const moved = await provider.rewrapDataKey('acme', dek.wrapped, dek.kekRef);
    expect(moved.kekRef).toBe(`aws-kms:${next.arn}`);
    expect(kms.count('ReEncrypt')).toBe(1);
    await store.updateWrappedDataKey('acme', dek.dekId, moved.wrapped, moved.kekRef);
    expect(await newSealer(kmsProvider(), store).sealer.open(record)).toEqual(input.plaintext);
    expect(await provider.primaryKekRef('acme')).toBe(`aws-kms:${next.arn}`);
  });

  it('keeps DEKs readable across KMS-side rotation; rotate() says where rotation happens', async () => {
    const provider = kmsProvider();
    const { sealer, store } = newSealer(provider);
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    kms.rotateKeyMaterial(keyIds.acme as string);
    const result = await provider.rotate('acme');
    expect(result.changed).toBe(false);
    expect(result.note).toMatch(/kmsKeyId/);
    expect(await newSealer(kmsProvider(), store).sealer.open(record)).toEqual(input.plaintext);
  });

  it('reports TIQ_ERR_KEY_UNAVAILABLE for a tenant without a configured key', async () => {
    await expectCode(kmsProvider().generateDataKey('initech'), 'TIQ_ERR_KEY_UNAVAILABLE');
  });
});
