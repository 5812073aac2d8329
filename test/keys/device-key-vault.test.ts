/**
 * The device key vault and device KEKs over a real SQLite file and a real
 * local keyring: create, read, destroy with a tombstone (no copy of the
 * wrapped key left in the vault's files), a fresh KEK after erasure, rotation
 * re-wrapping device KEKs, persistence across a restart, owner-only files.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shredDevice } from '../../src/keys/crypto-shred.ts';
import { DeviceKeks } from '../../src/keys/device-keks.ts';
import { DeviceKeyVault, parseDeviceKekRef } from '../../src/keys/device-key-vault.ts';
import { rotateTenantKey } from '../../src/keys/key-rotation.ts';
import { deviceVaultPath, keyStoreFiles, keyStorePaths, listVaultTombstones } from '../../src/keys/key-store-paths.ts';
import type { KeyProvider } from '../../src/keys/key-provider.ts';
import { RecordSealer } from '../../src/keys/record-sealer.ts';
import { KeysConfigSchema } from '../../src/config/keys-config.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { countingProvider, expectCode, rootKeyB64, sealInput, sealRecord, startLocalProvider, tempDir } from './fixtures.ts';

const LIMITS = { maxMessages: 2 ** 20, maxAgeMs: 24 * 3600_000, maxOpenKeys: 1000 };

async function setup(dir = tempDir(), env = { THINGIQ_ROOT_KEY: rootKeyB64() }) {
  const provider = countingProvider(await startLocalProvider(dir, env));
  const vault = DeviceKeyVault.open(join(dir, 'device-keys.db'));
  const deviceKeks = new DeviceKeks({ vault, provider, maxCached: 100 });
  const store = new MemoryDataKeyStore();
  const sealer = new RecordSealer({ provider, store, limits: LIMITS, deviceKeks });
  return { dir, env, provider, vault, deviceKeks, store, sealer, close: () => { sealer.close(); deviceKeks.close(); vault.close(); } };
}

function fileBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-journal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

describe('device key vault', () => {
  it('makes one 256-bit device KEK per device, wrapped under the tenant KEK, and wraps the device\'s DEKs under it', async () => {
    const { vault, provider, store, sealer, close } = await setup();
    const a = await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
    await sealRecord(sealer, sealInput({ deviceId: 'truck-1', stream: 'sensor' }));
    const b = await sealRecord(sealer, sealInput({ deviceId: 'truck-2' }));
    expect([a.kekRef, b.kekRef]).toEqual(['device:acme:truck-1:1', 'device:acme:truck-2:1']);
    const kek = vault.get('acme', 'truck-1')!;
    expect(kek).toMatchObject({ tenantId: 'acme', deviceId: 'truck-1', generation: 1, kekRef: 'device:acme:truck-1:1', tenantKekRef: 'local:acme:v1' });
    // The tenant's provider unwraps it to exactly 32 bytes.
    expect(await provider.unwrapDataKey('acme', kek.wrapped, kek.tenantKekRef)).toHaveLength(32);
    expect((await store.getDataKey('acme', a.dekId))?.kekRef).toBe('device:acme:truck-1:1');
    // One provider call per device, none per DEK or record.
    expect(provider.counts.generate).toBe(2);
    expect(parseDeviceKekRef('device:acme:truck-1:12')).toEqual({ tenantId: 'acme', deviceId: 'truck-1', generation: 12 });
    expect(parseDeviceKekRef('device:acme:truck:1:2')).toBeUndefined();
    close();
  });

  it('destroy: the KEK is gone from the vault files, a tombstone (no key material) stays, reads say TIQ_ERR_KEY_SHREDDED, a new record gets generation 2', async () => {
    const { dir, vault, deviceKeks, store, sealer, provider, close } = await setup();
    const victimInput = sealInput({ deviceId: 'truck-1' });
    const victim = await sealRecord(sealer, victimInput);
    const otherInput = sealInput({ deviceId: 'truck-2' });
    const other = await sealRecord(sealer, otherInput);
    const wrappedKek = vault.get('acme', 'truck-1')!.wrapped;
    const wrappedDek = (await store.getDataKey('acme', victim.dekId))!.wrapped;
    const path = join(dir, 'device-keys.db');
    expect(fileBytes(path).includes(wrappedKek)).toBe(true);

    // A copy of the wrapped DEK taken before (as a backup of the telemetry database would hold it).
    const copy = new MemoryDataKeyStore();
    await copy.putDataKey((await store.getDataKey('acme', victim.dekId))!);
    const receipt = await shredDevice({ provider, store, sealer, deviceKeks }, { tenantId: 'acme', deviceId: 'truck-1', actor: 'dpo@acme', now: () => 1_750_000_000_000 });
    expect(receipt).toMatchObject({ deviceKekRefs: ['device:acme:truck-1:1'], kekRefs: ['device:acme:truck-1:1'], destroyedCount: 1 });
    expect(vault.get('acme', 'truck-1')).toBeUndefined();
    expect(fileBytes(path).includes(wrappedKek)).toBe(false);
    expect(await vault.listTombstones()).toEqual([
      { tenantId: 'acme', deviceId: 'truck-1', kekRefs: ['device:acme:truck-1:1'], destroyedAtMs: 1_750_000_000_000, receiptId: receipt.receiptId },
    ]);
    expect(fileBytes(path).includes(wrappedDek)).toBe(false);
    // The same list from the config alone (a restore reads it without any key).
    const config = { dataDir: dir, keys: KeysConfigSchema.parse({}), tenants: { acme: {} } };
    expect(await listVaultTombstones(config)).toEqual(await vault.listTombstones());
    expect(await listVaultTombstones({ ...config, dataDir: join(dir, 'nowhere') })).toEqual([]);

    // The copied wrapped DEK can no longer be unwrapped, by this sealer (caches evicted) or a fresh one.
    const fresh = new RecordSealer({ provider, store: copy, limits: LIMITS, deviceKeks: new DeviceKeks({ vault, provider, maxCached: 10 }) });
    for (const s of [fresh, new RecordSealer({ provider, store: copy, limits: LIMITS, deviceKeks })]) await expectCode(s.open(victim), 'TIQ_ERR_KEY_SHREDDED');
    await expectCode(deviceKeks.unwrapDataKey('acme', 'truck-1', wrappedDek, 'device:acme:truck-1:1'), 'TIQ_ERR_KEY_SHREDDED');
    expect(await sealer.open(other)).toEqual(otherInput.plaintext);

    // The device publishes again: a fresh KEK, readable.
    const laterInput = sealInput({ deviceId: 'truck-1' });
    const later = await sealRecord(sealer, laterInput);
    expect(later.kekRef).toBe('device:acme:truck-1:2');
    expect(await sealer.open(later)).toEqual(laterInput.plaintext);
    close();
  });

  it('a device KEK refuses a DEK row that claims another device', async () => {
    const { store, sealer, deviceKeks, close } = await setup();
    const r = await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
    const dek = (await store.getDataKey('acme', r.dekId))!;
    await expectCode(deviceKeks.unwrapDataKey('acme', 'truck-2', dek.wrapped, dek.kekRef), 'TIQ_ERR_DECRYPT');
    await expectCode(deviceKeks.unwrapDataKey('globex', 'truck-1', dek.wrapped, dek.kekRef), 'TIQ_ERR_DECRYPT');
    close();
  });

  it('tenant KEK rotation re-wraps the tenant\'s device KEKs (one wrap each), records stay readable', async () => {
    const { vault, provider, store, sealer, deviceKeks, close } = await setup();
    const inputs = Array.from({ length: 5 }, (_, i) => sealInput({ deviceId: `truck-${i}` }));
    const records = [];
    for (const input of inputs) records.push(await sealRecord(sealer, input));
    await sealRecord(sealer, sealInput({ tenantId: 'globex' }));
    const before = vault.get('acme', 'truck-0')!;
    const result = await rotateTenantKey({ provider, store, sealer, deviceKeks }, 'acme');
    expect(result).toMatchObject({ kekRef: 'local:acme:v2', changed: true, deviceKeksRewrapped: 5 });
    expect(vault.listTenant('acme').map((k) => k.tenantKekRef)).toEqual(Array(5).fill('local:acme:v2'));
    expect(vault.get('globex', 'truck-1')?.tenantKekRef).toBe('local:globex:v1');
    expect(vault.get('acme', 'truck-0')!.wrapped.equals(before.wrapped)).toBe(false);
    // Cold: a new KEK cache unwraps the re-wrapped device KEKs.
    const cold = new RecordSealer({ provider, store, limits: LIMITS, deviceKeks: new DeviceKeks({ vault, provider, maxCached: 2 }) });
    for (const [i, r] of records.entries()) expect(await cold.open(r)).toEqual(inputs[i]!.plaintext);
    expect(await deviceKeks.rewrapTenant('acme')).toEqual({ scanned: 5, rewrapped: 0 });
    // --all after a KMS-side rotation: every device KEK again, page by page.
    expect(await deviceKeks.rewrapTenant('acme', { all: true, batchSize: 2 })).toEqual({ scanned: 5, rewrapped: 5 });
    const colder = new RecordSealer({ provider, store, limits: LIMITS, deviceKeks: new DeviceKeks({ vault, provider, maxCached: 2 }) });
    for (const [i, r] of records.entries()) expect(await colder.open(r)).toEqual(inputs[i]!.plaintext);
    close();
  });

  it('persists across a restart; files are owner-only (0600)', async () => {
    const first = await setup();
    const input = sealInput();
    const record = await sealRecord(first.sealer, input);
    first.close();
    const path = join(first.dir, 'device-keys.db');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await setup(first.dir, first.env);
    const cold = new RecordSealer({ provider: again.provider, store: first.store, limits: LIMITS, deviceKeks: again.deviceKeks });
    expect(await cold.open(record)).toEqual(input.plaintext);
    expect(again.vault.get('acme', 'truck-1')?.generation).toBe(1);
    again.close();
  });

  it('tightens a too-open vault file to 0600 and refuses a file that is not a vault', async () => {
    const dir = tempDir();
    const path = join(dir, 'device-keys.db');
    DeviceKeyVault.open(path).close();
    const { chmodSync } = await import('node:fs');
    chmodSync(path, 0o644);
    DeviceKeyVault.open(path).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const wrong = join(dir, 'other.db');
    writeFileSync(wrong, 'not sqlite at all, just text that is long enough to be a header........', { mode: 0o600 });
    expect(() => DeviceKeyVault.open(wrong)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_KEYRING_SEALED' }));
  });

  it('applyTombstone (a shred recorded elsewhere) destroys an older KEK once, never a newer one', async () => {
    const { vault, deviceKeks, sealer, close } = await setup();
    await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
    const made = vault.get('acme', 'truck-1')!.createdAtMs;
    expect(await deviceKeks.applyTombstone({ tenantId: 'acme', deviceId: 'truck-1', receiptId: 'r-old', atMs: made - 1 })).toEqual([]);
    expect(vault.get('acme', 'truck-1')).toBeDefined();
    expect(await deviceKeks.applyTombstone({ tenantId: 'acme', deviceId: 'truck-1', receiptId: 'r-1', atMs: made + 1 })).toEqual(['device:acme:truck-1:1']);
    sealer.forgetDevice('acme', 'truck-1');
    await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
    // The same receipt again (its own feed event) spares the fresh KEK.
    expect(await deviceKeks.applyTombstone({ tenantId: 'acme', deviceId: 'truck-1', receiptId: 'r-1', atMs: Date.now() + 1000 })).toEqual([]);
    expect(vault.get('acme', 'truck-1')?.generation).toBe(2);
    expect((await vault.listTombstones()).map((t) => t.receiptId).sort()).toEqual(['r-1', 'r-old']);
    close();
  });

  it('a device KEK made on a provider that fails is not stored; the failure is retryable for the message', async () => {
    const provider = await startLocalProvider();
    const failing: KeyProvider = { ...countingProvider(provider), generateDataKey: () => Promise.reject(new Error('kms down')) };
    const vault = DeviceKeyVault.open(join(tempDir(), 'device-keys.db'));
    const sealer = new RecordSealer({ provider: failing, store: new MemoryDataKeyStore(), limits: LIMITS, deviceKeks: new DeviceKeks({ vault, provider: failing, maxCached: 10 }) });
    await expectCode(sealer.seal(sealInput()) as Promise<unknown>, 'TIQ_ERR_KEY_UNAVAILABLE');
    expect(vault.get('acme', 'truck-1')).toBeUndefined();
    vault.close();
  });
});

describe('key store paths', () => {
  it('default the vault next to the keyring; list the key store files to leave out of data backups', () => {
    const keys = KeysConfigSchema.parse({});
    const config = { dataDir: '/var/lib/thingiq', keys, tenants: { acme: {} } };
    expect(deviceVaultPath(config)).toBe('/var/lib/thingiq/device-keys.db');
    expect(keyStorePaths(config)).toEqual([
      '/var/lib/thingiq/device-keys.db', '/var/lib/thingiq/device-keys.db-journal', '/var/lib/thingiq/keyring.json', '/var/lib/thingiq/root.key',
    ]);
    const moved = { ...config, keys: KeysConfigSchema.parse({ local: { keyringFile: '/etc/thingiq/keyring.json', rootKeyFile: '/etc/thingiq/root.key' } }) };
    expect(deviceVaultPath(moved)).toBe('/etc/thingiq/device-keys.db');
    const kmsOnly = { dataDir: '/d', keys: KeysConfigSchema.parse({ provider: 'aws-kms', deviceVault: { file: '/keys/vault.db' } }), tenants: { acme: { keys: { kmsKeyId: 'alias/a' } } } };
    expect(keyStoreFiles(kmsOnly)).toEqual({ deviceVault: ['/keys/vault.db', '/keys/vault.db-journal'], keyringFile: undefined, rootKeyFile: undefined });
  });
});
