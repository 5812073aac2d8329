/** Shared set-up for the keys tests: temporary data dirs, local providers, sealers. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { LocalKeyProvider } from '../../src/keys/local-key-provider.ts';
import { RecordSealer, type SealInput, type SealedEnvelope } from '../../src/keys/record-sealer.ts';
import type { KeyProvider } from '../../src/keys/key-provider.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'thingiq-keys-'));
  dirs.push(dir);
  return dir;
}

export function rootKeyB64(): string {
  return randomBytes(32).toString('base64');
}

export async function startLocalProvider(dir = tempDir(), env: Record<string, string> = { THINGIQ_ROOT_KEY: rootKeyB64() }, now?: () => number): Promise<LocalKeyProvider> {
  const provider = new LocalKeyProvider({
    keyringFile: join(dir, 'keyring.json'),
    rootKey: { envName: 'THINGIQ_ROOT_KEY', env, file: join(dir, 'root.key'), mayCreate: true },
    ...(now ? { now } : {}),
  });
  await provider.start();
  return provider;
}

export function newSealer(provider: KeyProvider, store = new MemoryDataKeyStore(), limits: Partial<{ maxMessages: number; maxAgeMs: number; maxOpenKeys: number }> = {}, now?: () => number): { sealer: RecordSealer; store: MemoryDataKeyStore } {
  const sealer = new RecordSealer({
    provider,
    store,
    limits: { maxMessages: 2 ** 20, maxAgeMs: 24 * 3600_000, maxOpenKeys: 1000, ...limits },
    ...(now ? { now } : {}),
  });
  return { sealer, store };
}

export function sealInput(overrides: Partial<SealInput> = {}): SealInput {
  return { tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId: randomUUID(), plaintext: Buffer.from('{"lat":52.52,"lon":13.40}'), ...overrides };
}

export type StoredRecord = SealedEnvelope & Omit<SealInput, 'plaintext'>;

export async function sealRecord(sealer: RecordSealer, input: SealInput = sealInput()): Promise<StoredRecord> {
  const env = await sealer.seal(input);
  return { ...env, tenantId: input.tenantId, deviceId: input.deviceId, stream: input.stream, recordId: input.recordId };
}

/** A provider wrapper counting calls, to prove no per-message key operation. */
export function countingProvider(inner: KeyProvider): KeyProvider & { counts: { generate: number; unwrap: number } } {
  const counts = { generate: 0, unwrap: 0 };
  return {
    counts,
    name: inner.name,
    start: () => inner.start(),
    close: () => inner.close(),
    generateDataKey: (t) => { counts.generate++; return inner.generateDataKey(t); },
    unwrapDataKey: (t, w, r) => { counts.unwrap++; return inner.unwrapDataKey(t, w, r); },
    rewrapDataKey: (t, w, r) => inner.rewrapDataKey(t, w, r),
    rotate: (t) => inner.rotate(t),
    primaryKekRef: (t) => inner.primaryKekRef(t),
    describeKeks: (t) => inner.describeKeks(t),
    health: () => inner.health(),
  };
}

export async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    if ((err as { code?: string }).code !== code) throw new Error(`expected ${code}, got ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
    return;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}
