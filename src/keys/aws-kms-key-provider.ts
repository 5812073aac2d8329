/**
 * The `aws-kms` key provider: one KMS key (id, ARN or alias) per tenant.
 *
 * - GenerateDataKey (AES_256) makes each DEK; KMS returns it in plaintext and
 *   wrapped. Decrypt unwraps cold DEKs; ReEncrypt rewraps without the DEK
 *   ever leaving KMS.
 * - The encryption context names the tenant and the purpose, never a device:
 *   KMS logs the context in CloudTrail in clear text.
 * - Rotation is KMS-side (automatic rotation or RotateKeyOnDemand keep old
 *   material usable under the same ARN) or by pointing the tenant's
 *   `kmsKeyId` at a new key; `keys rewrap` then moves DEKs to it via ReEncrypt.
 *   The gateway's IAM principal needs only kms:GenerateDataKey, kms:Decrypt,
 *   kms:ReEncrypt* and kms:DescribeKey, not key administration.
 * - The SDK's own retries are off; withBoundedRetry owns the time budget.
 */
import { DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, KMSClient, ReEncryptCommand, type KMSClientConfig } from '@aws-sdk/client-kms';
import { TiqError } from '../errors.ts';
import { withBoundedRetry, type RetryContext } from './bounded-retry.ts';
import type { GeneratedDataKey, KekVersionInfo, KeyProvider, RotateResult } from './key-provider.ts';
import type { AwsKmsProviderConfig } from '../config/keys-config.ts';
import { classifyKmsError, isTransientKmsError } from './kms-errors.ts';

export const KMS_KEK_PREFIX = 'aws-kms:';
export const DEK_PURPOSE = 'thingiq-dek';

export interface AwsKmsKeyProviderOptions {
  readonly config: AwsKmsProviderConfig;
  /** The tenant's configured KMS key (id, ARN or alias). */
  readonly keyIdFor: (tenantId: string) => string | undefined;
  /** Extra SDK client settings (credentials in tests; the default chain otherwise). */
  readonly clientConfig?: KMSClientConfig;
  readonly now?: () => number;
}

export function kmsKekRef(keyArn: string): string {
  return `${KMS_KEK_PREFIX}${keyArn}`;
}

export class AwsKmsKeyProvider implements KeyProvider {
  readonly name = 'aws-kms';
  readonly #options: AwsKmsKeyProviderOptions;
  readonly #client: KMSClient;
  /** Configured key id → resolved key ARN (the KEK reference). */
  readonly #arns = new Map<string, string>();
  #lastFailure: string | undefined;

  constructor(options: AwsKmsKeyProviderOptions) {
    this.#options = options;
    const { region, endpoint } = options.config;
    this.#client = new KMSClient({ region, ...(endpoint ? { endpoint } : {}), maxAttempts: 1, ...options.clientConfig });
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async generateDataKey(tenantId: string): Promise<GeneratedDataKey> {
    const keyId = this.#keyId(tenantId);
    const out = await this.#call('GenerateDataKey', (ctx) => this.#client.send(new GenerateDataKeyCommand({
      KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: encryptionContext(tenantId),
    }), { abortSignal: ctx.signal }));
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw malformed('GenerateDataKey');
    this.#arns.set(keyId, out.KeyId);
    return { plaintext: Buffer.from(out.Plaintext), wrapped: Buffer.from(out.CiphertextBlob), kekRef: kmsKekRef(out.KeyId) };
  }

  async unwrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
    const out = await this.#call('Decrypt', (ctx) => this.#client.send(new DecryptCommand({
      CiphertextBlob: wrapped, KeyId: keyArnOf(kekRef), EncryptionContext: encryptionContext(tenantId),
    }), { abortSignal: ctx.signal }));
    if (!out.Plaintext) throw malformed('Decrypt');
    return Buffer.from(out.Plaintext);
  }

  async rewrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }> {
    const context = encryptionContext(tenantId);
    const out = await this.#call('ReEncrypt', (ctx) => this.#client.send(new ReEncryptCommand({
      CiphertextBlob: wrapped, SourceKeyId: keyArnOf(kekRef), SourceEncryptionContext: context,
      DestinationKeyId: this.#keyId(tenantId), DestinationEncryptionContext: context,
    }), { abortSignal: ctx.signal }));
    if (!out.CiphertextBlob || !out.KeyId) throw malformed('ReEncrypt');
    return { wrapped: Buffer.from(out.CiphertextBlob), kekRef: kmsKekRef(out.KeyId) };
  }

  async rotate(tenantId: string): Promise<RotateResult> {
    return {
      kekRef: await this.primaryKekRef(tenantId),
      changed: false,
      note: 'aws-kms keys rotate in KMS: enable automatic rotation or run RotateKeyOnDemand (old material stays usable), or set the tenant\'s keys.kmsKeyId to a new key and run `thingiq keys rewrap`',
    };
  }

  async primaryKekRef(tenantId: string): Promise<string> {
    return kmsKekRef((await this.#describe(tenantId)).arn);
  }

  async describeKeks(tenantId: string): Promise<KekVersionInfo[]> {
    const { arn, createdAtMs } = await this.#describe(tenantId);
    return [{ kekRef: kmsKekRef(arn), primary: true, createdAtMs }];
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    return this.#lastFailure ? { ok: false, detail: this.#lastFailure } : { ok: true };
  }

  async #describe(tenantId: string): Promise<{ arn: string; createdAtMs: number | undefined }> {
    const keyId = this.#keyId(tenantId);
    const out = await this.#call('DescribeKey', (ctx) => this.#client.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal: ctx.signal }));
    const arn = out.KeyMetadata?.Arn;
    if (!arn) throw malformed('DescribeKey');
    this.#arns.set(keyId, arn);
    return { arn, createdAtMs: out.KeyMetadata?.CreationDate?.getTime() };
  }

  #keyId(tenantId: string): string {
    const keyId = this.#options.keyIdFor(tenantId);
    if (!keyId) throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'tenant has no keys.kmsKeyId configured', tenantId });
    return keyId;
  }

  async #call<T>(operation: string, fn: (ctx: RetryContext) => Promise<T>): Promise<T> {
    const { retryBudgetMs, retryBaseMs } = this.#options.config;
    const policy = { budgetMs: retryBudgetMs, baseMs: retryBaseMs, ...(this.#options.now ? { now: this.#options.now } : {}) };
    try {
      const out = await withBoundedRetry(operation, policy, isTransientKmsError, fn);
      this.#lastFailure = undefined;
      return out;
    } catch (err) {
      const tiq = classifyKmsError(operation, err);
      if (tiq.code === 'TIQ_ERR_KEY_UNAVAILABLE') this.#lastFailure = `${operation}: ${tiq.message}`;
      throw tiq;
    }
  }
}

/** Exactly this context, and nothing device-specific (CloudTrail shows it). */
export function encryptionContext(tenantId: string): Record<string, string> {
  return { tenant: tenantId, purpose: DEK_PURPOSE };
}

function keyArnOf(kekRef: string): string {
  if (!kekRef.startsWith(KMS_KEK_PREFIX)) throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'not an aws-kms key reference', kekRef });
  return kekRef.slice(KMS_KEK_PREFIX.length);
}

function malformed(operation: string): TiqError {
  return new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'KMS response lacks required fields', operation });
}
