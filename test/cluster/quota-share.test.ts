import { describe, expect, test } from 'vitest';
import { LimitsConfigSchema, effectiveQuotas } from '../../src/config/limits-config.ts';
import { AbuseLimits, quotaShare } from '../../src/limits/abuse-limits.ts';
import { TokenBucket } from '../../src/limits/token-bucket.ts';

const limits = LimitsConfigSchema.parse({ maxPacketBytes: 4096, overLimit: 'disconnect' });

describe('tenant quotas divided by the live nodes', () => {
  test('rates, bursts and connections are divided; the device rate is not; bursts keep room for one message', () => {
    const q = effectiveQuotas(limits, { messagesPerSecond: 300, messageBurst: 600, bytesPerSecond: 30_000, byteBurst: 9000, maxConnections: 10, devicePublishesPerSecond: 7 });
    expect(quotaShare(q, 1, 4096)).toEqual(q);
    const third = quotaShare(q, 3, 4096);
    expect(third).toMatchObject({ messagesPerSecond: 100, messageBurst: 200, bytesPerSecond: 10_000, byteBurst: 4096, maxConnections: 4, devicePublishesPerSecond: 7 });
    const many = quotaShare({ ...q, messageBurst: 2 }, 50, 4096);
    expect(many.messageBurst).toBe(1);
    expect(many.maxConnections).toBe(1);
  });

  test('a membership change re-divides every tenant\'s quota, and the buckets take the new rate without refilling', () => {
    const abuse = new AbuseLimits(limits, { acme: { messagesPerSecond: 100, messageBurst: 100, maxConnections: 9 } });
    const now = 1_000_000;
    const device = () => new TokenBucket(1e6, 1e6, now);
    expect(abuse.quotasOf('acme')).toMatchObject({ messagesPerSecond: 100, messageBurst: 100, maxConnections: 9 });
    // One node: 100 messages pass at once, the 101st is refused (no waiting with `disconnect`).
    for (let i = 0; i < 60; i++) expect(abuse.publishes.admit('acme', device(), 10, now)).toEqual({ delayMs: 0 });
    abuse.setLiveNodes(3, now);
    expect(abuse.liveNodes).toBe(3);
    expect(abuse.quotasOf('acme')).toMatchObject({ messagesPerSecond: 100 / 3, maxConnections: 3 });
    expect(abuse.quotasOf('other')).toMatchObject({ messagesPerSecond: limits.tenantDefaults.messagesPerSecond / 3 });
    // 40 tokens left, capped to the new burst of 33.3: 33 pass, then refused; nothing was refilled by the change.
    let passed = 0;
    while ('delayMs' in abuse.publishes.admit('acme', device(), 10, now)) passed++;
    expect(passed).toBe(33);
    // One second later the bucket refilled at a third of the rate.
    passed = 0;
    while ('delayMs' in abuse.publishes.admit('acme', device(), 10, now + 1000)) passed++;
    expect(passed).toBe(33);
    // Back to one node: the full rate again.
    abuse.setLiveNodes(1, now + 1000);
    passed = 0;
    while ('delayMs' in abuse.publishes.admit('acme', device(), 10, now + 2000)) passed++;
    expect(passed).toBe(100);
  });

  test('a configuration reload keeps the division', () => {
    const abuse = new AbuseLimits(limits, {});
    abuse.setLiveNodes(2);
    abuse.setTenantQuotas({ acme: { maxConnections: 10 } });
    expect(abuse.quotasOf('acme').maxConnections).toBe(5);
  });
});
