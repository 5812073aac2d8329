import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../src/keys/local-key-provider.ts';
import { expectCode, newSealer, rootKeyB64, sealInput, sealRecord, startLocalProvider, tempDir } from './fixtures.ts';

function provider(dir: string, env: Record<string, string>, mayCreate = true): LocalKeyProvider {
  return new LocalKeyProvider({
    keyringFile: join(dir, 'keyring.json'),
    rootKey: { envName: 'THINGIQ_ROOT_KEY', env, file: join(dir, 'root.key'), mayCreate },
  });
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('LocalKeyProvider', () => {
  it('creates the root key and the keyring with mode 0600 on first start', async () => {
    const dir = tempDir();
    const p = provider(dir, {});
    await p.start();
    await p.generateDataKey('acme');
    expect(mode(join(dir, 'root.key'))).toBe(0o600);
    expect(mode(join(dir, 'keyring.json'))).toBe(0o600);
    expect(Buffer.from(readFileSync(join(dir, 'root.key'), 'utf8').trim(), 'base64')).toHaveLength(32);
  });

  it('keeps no key material in clear in the keyring file', async () => {
    const dir = tempDir();
    const p = await startLocalProvider(dir);
    await p.generateDataKey('acme');
    const file = readFileSync(join(dir, 'keyring.json'), 'utf8');
    expect(JSON.parse(file)).toMatchObject({ format: 'thingiq.keyring', version: 1 });
    expect(file).not.toContain('acme');
  });

  it('reopens its keyring with the same root key; DEKs unwrap after restart', async () => {
    const dir = tempDir();
    const env = { THINGIQ_ROOT_KEY: rootKeyB64() };
    const first = await startLocalProvider(dir, env);
    const dek = await first.generateDataKey('acme');
    const again = provider(dir, env);
    await again.start();
    expect(await again.unwrapDataKey('acme', dek.wrapped, dek.kekRef)).toEqual(dek.plaintext);
  });

  it('refuses to start with TIQ_ERR_KEYRING_SEALED under a wrong root key', async () => {
    const dir = tempDir();
    await (await startLocalProvider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() })).generateDataKey('acme');
    const before = readFileSync(join(dir, 'keyring.json'));
    await expectCode(provider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() }).start(), 'TIQ_ERR_KEYRING_SEALED');
    expect(readFileSync(join(dir, 'keyring.json'))).toEqual(before);
  });

  it('never mints a new root key next to an existing keyring', async () => {
    const dir = tempDir();
    await startLocalProvider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() });
    await expectCode(provider(dir, {}).start(), 'TIQ_ERR_KEYRING_SEALED');
    expect(existsSync(join(dir, 'root.key'))).toBe(false);
  });

  it('refuses a malformed root key, a missing one in production, and a group-readable file', async () => {
    await expectCode(provider(tempDir(), { THINGIQ_ROOT_KEY: randomBytes(16).toString('base64') }).start(), 'TIQ_ERR_KEYRING_SEALED');
    await expectCode(provider(tempDir(), {}, false).start(), 'TIQ_ERR_KEYRING_SEALED');
    const dir = tempDir();
    writeFileSync(join(dir, 'root.key'), rootKeyB64(), { mode: 0o644 });
    chmodSync(join(dir, 'root.key'), 0o644);
    await expectCode(provider(dir, {}).start(), 'TIQ_ERR_KEYRING_SEALED');
  });

  it('refuses a file that is not a keyring', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'keyring.json'), '{"hello":1}');
    await expectCode(provider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() }).start(), 'TIQ_ERR_KEYRING_SEALED');
  });

  it('rotates: new DEKs under v2, v1 DEKs still unwrap', async () => {
    const p = await startLocalProvider();
    const old = await p.generateDataKey('acme');
    expect(old.kekRef).toBe('local:acme:v1');
    expect(await p.rotate('acme')).toEqual({ kekRef: 'local:acme:v2', changed: true });
    const fresh = await p.generateDataKey('acme');
    expect(fresh.kekRef).toBe('local:acme:v2');
    expect(await p.unwrapDataKey('acme', old.wrapped, old.kekRef)).toEqual(old.plaintext);
    const moved = await p.rewrapDataKey('acme', old.wrapped, old.kekRef);
    expect(moved.kekRef).toBe('local:acme:v2');
    expect(await p.unwrapDataKey('acme', moved.wrapped, moved.kekRef)).toEqual(old.plaintext);
    const keks = await p.describeKeks('acme');
    expect(keks.map((k) => [k.kekRef, k.primary])).toEqual([['local:acme:v1', false], ['local:acme:v2', true]]);
  });

  it('keeps tenants apart: a DEK cannot be unwrapped as another tenant\'s', async () => {
    const p = await startLocalProvider();
    const dek = await p.generateDataKey('acme');
    await p.generateDataKey('globex');
    await expectCode(p.unwrapDataKey('globex', dek.wrapped, dek.kekRef), 'TIQ_ERR_DECRYPT');
    await expectCode(p.unwrapDataKey('globex', dek.wrapped, 'local:globex:v1'), 'TIQ_ERR_DECRYPT');
    const tampered = Buffer.from(dek.wrapped);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    await expectCode(p.unwrapDataKey('acme', tampered, dek.kekRef), 'TIQ_ERR_DECRYPT');
  });

  it('picks up a rotation made by another process (the CLI) without restart', async () => {
    const dir = tempDir();
    const env = { THINGIQ_ROOT_KEY: rootKeyB64() };
    const gateway = await startLocalProvider(dir, env);
    const { sealer, store } = newSealer(gateway);
    const before = await sealRecord(sealer);
    const cli = provider(dir, env);
    await cli.start();
    await cli.rotate('acme');
    const dek = await store.getDataKey('acme', before.dekId);
    if (!dek) throw new Error('missing DEK');
    const moved = await cli.rewrapDataKey('acme', dek.wrapped, dek.kekRef);
    expect(await gateway.primaryKekRef('acme')).toBe('local:acme:v2');
    expect(await gateway.unwrapDataKey('acme', moved.wrapped, moved.kekRef)).toHaveLength(32);
    expect((await sealRecord(newSealer(gateway).sealer, sealInput())).kekRef).toBe('local:acme:v2');
  });
});
