import { describe, expect, it } from 'vitest';
import { newSealer, sealInput, startLocalProvider } from './fixtures.ts';

describe('IV uniqueness', () => {
  it('never repeats an IV across 1,000,000 encryptions under one DEK (NIST SP 800-38D §8.2.2)', async () => {
    const { sealer } = newSealer(await startLocalProvider());
    const input = sealInput({ plaintext: Buffer.alloc(1) });
    const first = await sealer.seal(input);
    const ivs = new Set<bigint>([first.iv.readBigUInt64BE(0) << 32n | BigInt(first.iv.readUInt32BE(8))]);
    const dekIds = new Set<string>([first.dekId]);
    for (let i = 1; i < 1_000_000; i++) {
      const env = sealer.seal(input);
      if (env instanceof Promise) throw new Error('the cached path must stay synchronous');
      ivs.add(env.iv.readBigUInt64BE(0) << 32n | BigInt(env.iv.readUInt32BE(8)));
      dekIds.add(env.dekId);
    }
    expect(dekIds.size).toBe(1);
    expect(ivs.size).toBe(1_000_000);
  }, 120_000);
});
