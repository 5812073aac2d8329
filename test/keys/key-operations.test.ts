import { describe, expect, it } from 'vitest';
import { shredDevice } from '../../src/keys/crypto-shred.ts';
import { rewrapTenantKeys, rotateTenantKey, tenantKeyStatus } from '../../src/keys/key-rotation.ts';
import { expectCode, newSealer, sealInput, sealRecord, startLocalProvider } from './fixtures.ts';

describe('operator key actions', () => {
  it('rotate: new records use the new version at once; old and new records read', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider);
    const oldInput = sealInput();
    const oldRecord = await sealRecord(sealer, oldInput);
    const result = await rotateTenantKey({ provider, store, sealer }, 'acme');
    expect(result.kekRef).toBe('local:acme:v2');
    const newInput = sealInput();
    const newRecord = await sealRecord(sealer, newInput);
    expect(newRecord.kekRef).toBe('local:acme:v2');
    expect(newRecord.dekId).not.toBe(oldRecord.dekId);
    const cold = newSealer(provider, store).sealer;
    expect(await cold.open(oldRecord)).toEqual(oldInput.plaintext);
    expect(await cold.open(newRecord)).toEqual(newInput.plaintext);
  });

  it('rewrap: moves every DEK under the primary, payloads untouched, records read; re-run is a no-op', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider);
    const inputs = Array.from({ length: 7 }, (_, i) => sealInput({ deviceId: `truck-${i}` }));
    const records = [];
    for (const input of inputs) records.push(await sealRecord(sealer, input));
    await provider.rotate('acme');
    const progress: number[] = [];
    const result = await rewrapTenantKeys({ provider, store }, 'acme', { batchSize: 3, onProgress: (p) => progress.push(p.scanned) });
    expect(result).toMatchObject({ scanned: 7, rewrapped: 7, skipped: 0, primaryKekRef: 'local:acme:v2' });
    expect(progress).toEqual([3, 6, 7]);
    expect([...store.keys.values()].every((k) => k.kekRef === 'local:acme:v2')).toBe(true);
    const cold = newSealer(provider, store).sealer;
    for (const [i, r] of records.entries()) expect(await cold.open(r)).toEqual(inputs[i]?.plaintext);
    const again = await rewrapTenantKeys({ provider, store }, 'acme');
    expect(again).toMatchObject({ rewrapped: 0, skipped: 7 });
  });

  it('rewrap resumes after a cursor and leaves other tenants alone', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider);
    for (let i = 0; i < 6; i++) await sealRecord(sealer, sealInput({ deviceId: `truck-${i}` }));
    await sealRecord(sealer, sealInput({ tenantId: 'globex' }));
    await provider.rotate('acme');
    const ids = [...store.keys.values()].filter((k) => k.tenantId === 'acme').map((k) => k.dekId).sort();
    const cursor = ids[2];
    const result = await rewrapTenantKeys({ provider, store }, 'acme', { afterDekId: cursor });
    expect(result).toMatchObject({ scanned: 3, rewrapped: 3, cursor: ids[5] });
    const kekOf = (id: string | undefined) => [...store.keys.values()].find((k) => k.dekId === id)?.kekRef;
    expect(ids.map(kekOf)).toEqual(['local:acme:v1', 'local:acme:v1', 'local:acme:v1', 'local:acme:v2', 'local:acme:v2', 'local:acme:v2']);
    expect([...store.keys.values()].find((k) => k.tenantId === 'globex')?.kekRef).toBe('local:globex:v1');
  });

  it('rewrap in slices: `limit` stops with done false and a cursor, and the slices together cover every DEK once', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider);
    for (let i = 0; i < 7; i++) await sealRecord(sealer, sealInput({ deviceId: `truck-${i}` }));
    await provider.rotate('acme');
    const first = await rewrapTenantKeys({ provider, store }, 'acme', { limit: 3, batchSize: 2 });
    expect(first).toMatchObject({ scanned: 3, rewrapped: 3, done: false });
    const second = await rewrapTenantKeys({ provider, store }, 'acme', { limit: 3, afterDekId: first.cursor });
    expect(second).toMatchObject({ scanned: 3, rewrapped: 3, done: false });
    const last = await rewrapTenantKeys({ provider, store }, 'acme', { limit: 3, afterDekId: second.cursor });
    expect(last).toMatchObject({ scanned: 1, rewrapped: 1, done: true });
    expect([...store.keys.values()].every((k) => k.kekRef === 'local:acme:v2')).toBe(true);
  });

  it('status: versions, ages and DEK counts per version', async () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const provider = await startLocalProvider(undefined, undefined, clock);
    const { sealer, store } = newSealer(provider, undefined, {}, clock);
    await sealRecord(sealer, sealInput({ deviceId: 'a' }));
    await sealRecord(sealer, sealInput({ deviceId: 'b' }));
    now += 3_600_000;
    await rotateTenantKey({ provider, store, sealer }, 'acme');
    await sealRecord(sealer, sealInput({ deviceId: 'a' }));
    now += 1000;
    const status = await tenantKeyStatus({ provider, store, providerName: 'local' }, 'acme', now);
    expect(status.totalDataKeys).toBe(3);
    expect(status.keks).toEqual([
      { kekRef: 'local:acme:v1', primary: false, createdAtMs: 1_700_000_000_000, ageMs: 3_601_000, dataKeys: 2, deviceKeks: 0 },
      { kekRef: 'local:acme:v2', primary: true, createdAtMs: 1_700_003_600_000, ageMs: 1000, dataKeys: 1, deviceKeks: 0 },
    ]);
  });

  it('shred: the device\'s records become unreadable (TIQ_ERR_KEY_SHREDDED), others stay readable, receipt says what and who', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider, undefined, { maxMessages: 2 });
    const victim = [];
    for (let i = 0; i < 5; i++) victim.push(await sealRecord(sealer, sealInput({ deviceId: 'truck-1' })));
    const otherInput = sealInput({ deviceId: 'truck-2' });
    const other = await sealRecord(sealer, otherInput);
    const dekIds = [...new Set(victim.map((r) => r.dekId))].sort();
    expect(dekIds).toHaveLength(3);
    const receipt = await shredDevice({ provider, store, sealer }, { tenantId: 'acme', deviceId: 'truck-1', actor: 'dpo@acme', now: () => Date.UTC(2025, 0, 2) });
    expect(receipt).toMatchObject({
      type: 'thingiq.keys.shred-receipt', tenantId: 'acme', deviceId: 'truck-1', destroyedDekIds: dekIds, destroyedCount: 3,
      kekRefs: ['local:acme:v1'], actor: 'dpo@acme', destroyedAt: '2025-01-02T00:00:00.000Z',
    });
    // The same sealer (its caches were evicted) and a fresh one both refuse.
    for (const s of [sealer, newSealer(provider, store).sealer]) {
      for (const r of victim) await expectCode(s.open(r), 'TIQ_ERR_KEY_SHREDDED');
      expect(await s.open(other)).toEqual(otherInput.plaintext);
    }
    // New data of the device gets a new DEK, readable.
    const later = sealInput({ deviceId: 'truck-1' });
    const laterRecord = await sealRecord(sealer, later);
    expect(dekIds).not.toContain(laterRecord.dekId);
    expect(await sealer.open(laterRecord)).toEqual(later.plaintext);
  });
});
