/**
 * A burst of new devices: each needs a device KEK in the vault and a data
 * key in the sink, both durable writes. They must go out as one transaction
 * per store, not one fsync'd transaction per device (which held the event
 * loop, and every other device's PUBACK, for the whole burst). Real vault
 * file, real SQLite sink, real local keyring.
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DeviceKeks } from '../../src/keys/device-keks.ts';
import { DeviceKeyVault } from '../../src/keys/device-key-vault.ts';
import { RecordSealer } from '../../src/keys/record-sealer.ts';
import { TickBatch } from '../../src/keys/tick-batch.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { countingProvider, rootKeyB64, sealInput, sealRecord, startLocalProvider, tempDir } from './fixtures.ts';

const LIMITS = { maxMessages: 2 ** 20, maxAgeMs: 24 * 3600_000, maxOpenKeys: 1000 };

describe('key writes of a burst of new devices', () => {
  it('200 new devices: one vault transaction and one data-key write, each device its own KEK and DEK, every record opens', async () => {
    const dir = tempDir();
    const provider = countingProvider(await startLocalProvider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() }));
    const vault = DeviceKeyVault.open(join(dir, 'device-keys.db'));
    const deviceKeks = new DeviceKeks({ vault, provider, maxCached: 1000 });
    const sink = new SqliteSink('default', { path: join(dir, 'records.db'), durability: 'fsync' });
    await sink.start();
    const vaultWrites = vi.spyOn(vault, 'insertManyIfAbsent');
    const keyWrites = vi.spyOn(sink, 'putDataKeys');
    const single = vi.spyOn(sink, 'putDataKey');
    const sealer = new RecordSealer({ provider, store: sink, limits: LIMITS, deviceKeks });

    const inputs = Array.from({ length: 200 }, (_, i) => sealInput({ deviceId: `truck-${i}` }));
    const sealed = await Promise.all(inputs.map((input) => sealRecord(sealer, input)));

    expect(vaultWrites).toHaveBeenCalledTimes(1);
    expect(vaultWrites.mock.calls[0]![0]).toHaveLength(200);
    expect(keyWrites).toHaveBeenCalledTimes(1);
    expect(keyWrites.mock.calls[0]![0]).toHaveLength(200);
    expect(single).not.toHaveBeenCalled();
    expect(new Set(sealed.map((s) => s.kekRef)).size).toBe(200);
    expect(new Set(sealed.map((s) => s.dekId)).size).toBe(200);
    for (let i = 0; i < 200; i++) {
      expect(sealed[i]!.kekRef).toBe(`device:acme:truck-${i}:1`);
      expect(vault.get('acme', `truck-${i}`)?.kekRef).toBe(`device:acme:truck-${i}:1`);
    }
    // A fresh sealer (a restarted gateway: empty caches) opens every record from what was stored.
    const reopened = new RecordSealer({ provider, store: sink, limits: LIMITS, deviceKeks: new DeviceKeks({ vault, provider, maxCached: 1000 }) });
    const opened = await Promise.all(sealed.map((s) => reopened.open({ ...s, formatVersion: s.formatVersion })));
    expect(opened.map((b) => b.toString())).toEqual(inputs.map((i) => i.plaintext.toString()));
    sealer.close();
    reopened.close();
    await sink.close();
    vault.close();
  });

  it('a failed batch write fails every waiting seal with the store\'s error, and the next burst writes again', async () => {
    const dir = tempDir();
    const provider = await startLocalProvider(dir, { THINGIQ_ROOT_KEY: rootKeyB64() });
    const store = new MemoryDataKeyStore();
    const sealer = new RecordSealer({ provider, store, limits: LIMITS });
    store.failPut = Object.assign(new Error('disk full'), { code: 'TIQ_ERR_STORE_UNAVAILABLE' });
    const failed = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => sealRecord(sealer, sealInput({ deviceId: `d-${i}` }))));
    expect(failed.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'disk full')).toBe(true);
    expect(store.keys.size).toBe(0);
    store.failPut = undefined;
    const ok = await Promise.all(Array.from({ length: 5 }, (_, i) => sealRecord(sealer, sealInput({ deviceId: `d-${i}` }))));
    expect(new Set(ok.map((s) => s.dekId)).size).toBe(5);
    expect(store.keys.size).toBe(5);
    sealer.close();
  });
});

describe('TickBatch', () => {
  it('joins what is asked in one turn, splits at maxBatch, and hands each caller its own result', async () => {
    const batches: number[][] = [];
    const batch = new TickBatch<number, number>((items) => { batches.push([...items]); return items.map((n) => n * 10); }, 4);
    const first = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => batch.add(n)));
    expect(first).toEqual([10, 20, 30, 40, 50, 60]);
    expect(batches).toEqual([[1, 2, 3, 4], [5, 6]]);
    // A later turn is a new batch.
    expect(await batch.add(7)).toBe(70);
    expect(batches.at(-1)).toEqual([7]);
  });

  it('a flush that throws, rejects or miscounts fails that batch only', async () => {
    let mode: 'throw' | 'reject' | 'short' | 'ok' = 'throw';
    const batch = new TickBatch<number, number>((items) => {
      if (mode === 'throw') throw new Error('sync');
      if (mode === 'reject') return Promise.reject(new Error('async'));
      if (mode === 'short') return items.slice(1);
      return items;
    });
    await expect(Promise.all([batch.add(1), batch.add(2)])).rejects.toThrow('sync');
    mode = 'reject';
    await expect(batch.add(3)).rejects.toThrow('async');
    mode = 'short';
    await expect(Promise.all([batch.add(4), batch.add(5)])).rejects.toThrow('2 items');
    mode = 'ok';
    expect(await Promise.all([batch.add(6), batch.add(7)])).toEqual([6, 7]);
  });
});
