import { describe, expect, it } from 'vitest';
import { TiqError, isTiqError } from '../../src/errors.ts';
import { IV_BYTES, TAG_BYTES } from '../../src/keys/record-cipher.ts';
import { countingProvider, expectCode, newSealer, sealInput, sealRecord, startLocalProvider, type StoredRecord } from './fixtures.ts';

function flipBit(buf: Buffer, bit: number): Buffer {
  const copy = Buffer.from(buf);
  copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return copy;
}

describe('RecordSealer', () => {
  it('round-trips a record with a 96-bit IV and a 128-bit tag', async () => {
    const { sealer } = newSealer(await startLocalProvider());
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    expect(record.iv).toHaveLength(IV_BYTES);
    expect(record.tag).toHaveLength(TAG_BYTES);
    expect(record.formatVersion).toBe(1);
    expect(record.kekRef).toBe('local:acme:v1');
    expect(record.ciphertext.includes(input.plaintext)).toBe(false);
    expect(await sealer.open(record)).toEqual(input.plaintext);
  });

  it('seals synchronously once the device DEK is cached', async () => {
    const { sealer } = newSealer(await startLocalProvider());
    const first = sealer.seal(sealInput());
    expect(first).toBeInstanceOf(Promise);
    await first;
    const second = sealer.seal(sealInput());
    expect(second).not.toBeInstanceOf(Promise);
  });

  it('any failure to make a data key is retryable, so the message is never acknowledged', async () => {
    const provider = await startLocalProvider();
    for (const thrown of [new TiqError('TIQ_ERR_KEYRING_SEALED'), new TiqError('TIQ_ERR_DECRYPT'), new Error('disk gone')]) {
      const { sealer } = newSealer({ ...countingProvider(provider), generateDataKey: () => Promise.reject(thrown) });
      const err = await (sealer.seal(sealInput()) as Promise<unknown>).catch((e: unknown) => e);
      expect(isTiqError(err) && err.retryable).toBe(true);
      expect(isTiqError(err) && err.code).toBe(thrown instanceof TiqError && thrown.retryable ? thrown.code : 'TIQ_ERR_KEY_UNAVAILABLE');
    }
  });

  it('opens records with a fresh sealer (cold DEK unwrapped from the store)', async () => {
    const provider = await startLocalProvider();
    const { sealer, store } = newSealer(provider);
    const input = sealInput();
    const record = await sealRecord(sealer, input);
    const cold = newSealer(provider, store).sealer;
    expect(await cold.open(record)).toEqual(input.plaintext);
  });

  describe('tampering fails with TIQ_ERR_DECRYPT', () => {
    const fields = ['iv', 'ciphertext', 'tag'] as const;
    for (const field of fields) {
      it(`any bit of ${field}`, async () => {
        const { sealer } = newSealer(await startLocalProvider());
        const record = await sealRecord(sealer);
        const bits = record[field].length * 8;
        for (let bit = 0; bit < bits; bit += field === 'ciphertext' ? 1 : 3) {
          await expectCode(sealer.open({ ...record, [field]: flipBit(record[field], bit) }), 'TIQ_ERR_DECRYPT');
        }
      });
    }

    const bindings: Array<[keyof StoredRecord, string]> = [['stream', 'sensor'], ['recordId', 'another-record'], ['deviceId', 'truck-2'], ['tenantId', 'globex']];
    for (const [field, value] of bindings) {
      it(`AAD field ${field}`, async () => {
        const provider = await startLocalProvider();
        const { sealer, store } = newSealer(provider);
        const record = await sealRecord(sealer);
        // Also copy the wrapped DEK where the moved record would look for it, so only the AAD or the tenant's KEK can refuse.
        const dek = await store.getDataKey(record.tenantId, record.dekId);
        if (dek && field !== 'stream' && field !== 'recordId') await store.putDataKey({ ...dek, [field]: value });
        await expectCode(sealer.open({ ...record, [field]: value }), 'TIQ_ERR_DECRYPT');
        // And after the caches are cold, through the unwrap path.
        const cold = newSealer(provider, store).sealer;
        await expectCode(cold.open({ ...record, [field]: value }), 'TIQ_ERR_DECRYPT');
        // The untouched record still opens (for deviceId the copy replaced the DEK's owner row, so it must not).
        if (field !== 'deviceId') expect(await cold.open(record)).toEqual(sealInput().plaintext);
      });
    }

    it('a different dek id', async () => {
      const { sealer } = newSealer(await startLocalProvider());
      const a = await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
      const other = await sealRecord(sealer, sealInput({ deviceId: 'truck-9' }));
      await expectCode(sealer.open({ ...a, dekId: other.dekId }), 'TIQ_ERR_DECRYPT');
    });

    it('an unknown format version', async () => {
      const { sealer } = newSealer(await startLocalProvider());
      const record = await sealRecord(sealer);
      await expectCode(sealer.open({ ...record, formatVersion: 2 }), 'TIQ_ERR_DECRYPT');
    });
  });

  it('refuses truncated tags (Node would otherwise accept them)', async () => {
    const { sealer } = newSealer(await startLocalProvider());
    const record = await sealRecord(sealer);
    for (const len of [4, 8, 12, 15]) {
      await expectCode(sealer.open({ ...record, tag: record.tag.subarray(0, len) }), 'TIQ_ERR_DECRYPT');
    }
    await expectCode(sealer.open({ ...record, iv: record.iv.subarray(0, 8) }), 'TIQ_ERR_DECRYPT');
  });

  it('uses one DEK per (tenant, device)', async () => {
    const { sealer, store } = newSealer(await startLocalProvider());
    const a1 = await sealRecord(sealer, sealInput({ deviceId: 'truck-1' }));
    const a2 = await sealRecord(sealer, sealInput({ deviceId: 'truck-1', stream: 'sensor' }));
    const b = await sealRecord(sealer, sealInput({ deviceId: 'truck-2' }));
    const c = await sealRecord(sealer, sealInput({ tenantId: 'globex', deviceId: 'truck-1' }));
    expect(a2.dekId).toBe(a1.dekId);
    expect(new Set([a1.dekId, b.dekId, c.dekId]).size).toBe(3);
    expect(c.kekRef).toBe('local:globex:v1');
    expect(store.keys.size).toBe(3);
  });

  it('makes one DEK for concurrent first seals of a device', async () => {
    const provider = countingProvider(await startLocalProvider());
    const { sealer } = newSealer(provider);
    const records = await Promise.all(Array.from({ length: 20 }, () => sealer.seal(sealInput())));
    expect(new Set(records.map((r) => r.dekId)).size).toBe(1);
    expect(provider.counts.generate).toBe(1);
  });

  it('stores the wrapped DEK before its first use, and caches nothing when the store fails', async () => {
    const provider = countingProvider(await startLocalProvider());
    const { sealer, store } = newSealer(provider);
    store.failPut = new Error('disk full');
    await expect(sealer.seal(sealInput())).rejects.toThrow('disk full');
    store.failPut = undefined;
    const record = await sealRecord(sealer);
    expect(provider.counts.generate).toBe(2);
    expect(await store.getDataKey('acme', record.dekId)).toBeDefined();
  });

  it('costs no key-provider call per message while the DEK is cached', async () => {
    const provider = countingProvider(await startLocalProvider());
    const { sealer, store } = newSealer(provider);
    for (let i = 0; i < 5000; i++) await sealer.seal(sealInput({ deviceId: `truck-${i % 5}` }));
    expect(provider.counts.generate).toBe(5);
    expect(store.calls.put).toBe(5);
  });

  it('retires a DEK after maxMessages encryptions', async () => {
    const provider = countingProvider(await startLocalProvider());
    const { sealer } = newSealer(provider, undefined, { maxMessages: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await sealer.seal(sealInput())).dekId);
    expect(ids.slice(0, 3).every((id) => id === ids[0])).toBe(true);
    expect(ids[3]).not.toBe(ids[0]);
    expect(new Set(ids).size).toBe(3);
    expect(provider.counts.generate).toBe(3);
  });

  it('never exceeds maxMessages under concurrent seals', async () => {
    const { sealer } = newSealer(await startLocalProvider(), undefined, { maxMessages: 2 });
    const records = await Promise.all(Array.from({ length: 9 }, () => sealer.seal(sealInput())));
    const perDek = new Map<string, number>();
    for (const r of records) perDek.set(r.dekId, (perDek.get(r.dekId) ?? 0) + 1);
    expect(Math.max(...perDek.values())).toBeLessThanOrEqual(2);
  });

  it('retires a DEK by age (injected clock)', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const { sealer } = newSealer(await startLocalProvider(undefined, undefined, clock), undefined, { maxAgeMs: 60_000 }, clock);
    const first = (await sealer.seal(sealInput())).dekId;
    now += 59_999;
    expect((await sealer.seal(sealInput())).dekId).toBe(first);
    now += 1;
    const next = (await sealer.seal(sealInput())).dekId;
    expect(next).not.toBe(first);
    now += 60_000;
    expect(sealer.sweep()).toBe(1);
  });

  it('keeps records under a retired DEK readable', async () => {
    const { sealer } = newSealer(await startLocalProvider(), undefined, { maxMessages: 1 });
    const inputs = [sealInput(), sealInput(), sealInput()];
    const records = [];
    for (const input of inputs) records.push(await sealRecord(sealer, input));
    for (const [i, r] of records.entries()) expect(await sealer.open(r)).toEqual(inputs[i]?.plaintext);
  });
});
