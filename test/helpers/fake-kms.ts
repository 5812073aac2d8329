/**
 * A local AWS KMS endpoint for tests, driven through the real
 * @aws-sdk/client-kms with `endpoint` set. It speaks the KMS JSON 1.1
 * protocol (POST /, `X-Amz-Target: TrentService.<Operation>`, base64 blobs,
 * errors as `{"__type": ...}`) for GenerateDataKey, Decrypt, ReEncrypt and
 * DescribeKey. Like KMS, it binds the encryption context into the ciphertext,
 * so Decrypt succeeds only with the exact same context.
 *
 * Failure injection: `failNext(kind, n)` for the next n calls, `outage` until
 * cleared. Every call is recorded with its operation and encryption context.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FailureKind = 'throttle' | 'server-error' | 'unavailable' | 'invalid-ciphertext';

export interface FakeKmsCall {
  readonly operation: string;
  readonly encryptionContexts: ReadonlyArray<Record<string, string>>;
}

interface FakeKey {
  readonly keyId: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly materials: Buffer[];
}

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
const MAGIC = Buffer.from('FKMS');

class KmsError extends Error {
  constructor(readonly type: string, readonly status: number, message: string) {
    super(message);
  }
}

const FAILURES: Record<FailureKind, () => KmsError> = {
  'throttle': () => new KmsError('ThrottlingException', 400, 'Rate exceeded'),
  'server-error': () => new KmsError('KMSInternalException', 500, 'internal error'),
  'unavailable': () => new KmsError('ServiceUnavailableException', 503, 'service unavailable'),
  'invalid-ciphertext': () => new KmsError('InvalidCiphertextException', 400, 'invalid ciphertext'),
};

export class FakeKms {
  readonly calls: FakeKmsCall[] = [];
  /** Fails every call with this kind until set back to undefined. */
  outage: FailureKind | undefined;
  readonly #keys = new Map<string, FakeKey>();
  readonly #aliases = new Map<string, string>();
  readonly #queued: FailureKind[] = [];
  #server: Server | undefined;
  endpoint = '';

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  createKey(alias?: string): { keyId: string; arn: string } {
    const keyId = randomUUID();
    const key: FakeKey = { keyId, arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`, createdAt: Date.now(), materials: [randomBytes(32)] };
    this.#keys.set(keyId, key);
    if (alias) this.#aliases.set(alias.startsWith('alias/') ? alias : `alias/${alias}`, keyId);
    return { keyId, arn: key.arn };
  }

  /** KMS-side rotation: new material encrypts; old material still decrypts. */
  rotateKeyMaterial(keyId: string): void {
    this.#keys.get(keyId)?.materials.push(randomBytes(32));
  }

  failNext(kind: FailureKind, count = 1): void {
    for (let i = 0; i < count; i++) this.#queued.push(kind);
  }

  count(operation: string): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target.startsWith('TrentService.')) throw new KmsError('UnknownOperationException', 400, 'unknown target');
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256')) throw new KmsError('MissingAuthenticationTokenException', 400, 'request not signed');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const operation = target.slice('TrentService.'.length);
      this.calls.push({ operation, encryptionContexts: contextsOf(body) });
      const failure = this.#queued.shift() ?? this.outage;
      if (failure) throw FAILURES[failure]();
      send(res, 200, this.#dispatch(operation, body));
    } catch (err) {
      const e = err instanceof KmsError ? err : new KmsError('KMSInternalException', 500, 'fake failure');
      send(res, e.status, { __type: e.type, message: e.message }, e.type);
    }
  }

  #dispatch(operation: string, body: Record<string, unknown>): unknown {
    switch (operation) {
      case 'GenerateDataKey': return this.#generateDataKey(body);
      case 'Decrypt': return this.#decrypt(body);
      case 'ReEncrypt': return this.#reEncrypt(body);
      case 'DescribeKey': return this.#describeKey(body);
      default: throw new KmsError('UnknownOperationException', 400, operation);
    }
  }

  #generateDataKey(body: Record<string, unknown>): unknown {
    if (body.KeySpec !== 'AES_256') throw new KmsError('ValidationException', 400, 'KeySpec must be AES_256');
    const key = this.#resolve(body.KeyId);
    const plaintext = randomBytes(32);
    const blob = this.#seal(key, plaintext, contextOf(body.EncryptionContext));
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') };
  }

  #decrypt(body: Record<string, unknown>): unknown {
    const { key, plaintext } = this.#open(body.CiphertextBlob, contextOf(body.EncryptionContext), body.KeyId);
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  #reEncrypt(body: Record<string, unknown>): unknown {
    const source = this.#open(body.CiphertextBlob, contextOf(body.SourceEncryptionContext), body.SourceKeyId);
    const destination = this.#resolve(body.DestinationKeyId);
    const blob = this.#seal(destination, source.plaintext, contextOf(body.DestinationEncryptionContext));
    return { SourceKeyId: source.key.arn, KeyId: destination.arn, CiphertextBlob: blob.toString('base64') };
  }

  #describeKey(body: Record<string, unknown>): unknown {
    const key = this.#resolve(body.KeyId);
    return { KeyMetadata: { KeyId: key.keyId, Arn: key.arn, CreationDate: key.createdAt / 1000, Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' } };
  }

  #resolve(keyId: unknown): FakeKey {
    const id = String(keyId ?? '');
    const aliasName = id.includes(':alias/') ? id.slice(id.indexOf('alias/')) : id;
    const bare = this.#aliases.get(aliasName) ?? id.replace(/^arn:aws:kms:[^:]+:\d+:key\//, '');
    const key = this.#keys.get(bare);
    if (!key) throw new KmsError('NotFoundException', 400, 'key not found');
    return key;
  }

  /** Blob: "FKMS" | uuid (36) | material version (u32) | iv (12) | tag (16) | ciphertext. */
  #seal(key: FakeKey, plaintext: Buffer, context: Record<string, string>): Buffer {
    const version = key.materials.length - 1;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.materials[version] as Buffer, iv);
    cipher.setAAD(canonicalContext(context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const v = Buffer.alloc(4);
    v.writeUInt32BE(version);
    return Buffer.concat([MAGIC, Buffer.from(key.keyId, 'ascii'), v, iv, cipher.getAuthTag(), ct]);
  }

  #open(blobB64: unknown, context: Record<string, string>, expectedKeyId: unknown): { key: FakeKey; plaintext: Buffer } {
    const invalid = FAILURES['invalid-ciphertext'];
    const blob = Buffer.from(String(blobB64 ?? ''), 'base64');
    if (blob.length < 4 + 36 + 4 + 12 + 16 || !blob.subarray(0, 4).equals(MAGIC)) throw invalid();
    const key = this.#keys.get(blob.subarray(4, 40).toString('ascii'));
    if (!key) throw invalid();
    if (expectedKeyId !== undefined && this.#resolve(expectedKeyId) !== key) throw new KmsError('IncorrectKeyException', 400, 'wrong key');
    const material = key.materials[blob.readUInt32BE(40)];
    if (!material) throw invalid();
    try {
      const decipher = createDecipheriv('aes-256-gcm', material, blob.subarray(44, 56), { authTagLength: 16 });
      decipher.setAAD(canonicalContext(context));
      decipher.setAuthTag(blob.subarray(56, 72));
      return { key, plaintext: Buffer.concat([decipher.update(blob.subarray(72)), decipher.final()]) };
    } catch {
      throw invalid();
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(JSON.stringify(body));
}

function contextOf(value: unknown): Record<string, string> {
  return value && typeof value === 'object' ? (value as Record<string, string>) : {};
}

function contextsOf(body: Record<string, unknown>): Array<Record<string, string>> {
  return ['EncryptionContext', 'SourceEncryptionContext', 'DestinationEncryptionContext']
    .filter((k) => body[k] !== undefined).map((k) => contextOf(body[k]));
}

/** Exact match: sorted key/value pairs; any difference changes the AAD. */
function canonicalContext(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : 1))), 'utf8');
}
