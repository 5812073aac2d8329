/**
 * Per-device publish rate and per-tenant message and byte quotas, as token
 * buckets. `admit` charges a message and says how long to hold it: 0 (go),
 * a delay (the `slow` policy: the broker holds the callback, so aedes stops
 * reading that socket), or a refusal code (the `disconnect` policy, or a
 * delay beyond maxSlowDelayMs).
 */
import type { ErrorCode } from '../errors.ts';
import type { EffectiveQuotas, LimitsConfig } from '../config/limits-config.ts';
import { TokenBucket } from './token-bucket.ts';

export type Admission = { readonly delayMs: number } | { readonly refused: ErrorCode; readonly limit: string };

interface TenantBuckets {
  readonly messages: TokenBucket;
  readonly bytes: TokenBucket;
}

export class PublishLimiter {
  private readonly tenants = new Map<string, TenantBuckets>();

  constructor(
    private readonly limits: Pick<LimitsConfig, 'overLimit' | 'maxSlowDelayMs'>,
    private readonly quotasOf: (tenantId: string) => EffectiveQuotas,
  ) {}

  /** A device's own bucket; it lives with the device's connection (one per device: session ids are per device). */
  deviceBucket(tenantId: string, nowMs: number): TokenBucket {
    const q = this.quotasOf(tenantId);
    return new TokenBucket(q.devicePublishesPerSecond, q.devicePublishBurst, nowMs);
  }

  admit(tenantId: string, device: TokenBucket, bytes: number, nowMs: number): Admission {
    const maxWait = this.limits.overLimit === 'slow' ? this.limits.maxSlowDelayMs : 0;
    const t = this.tenantBuckets(tenantId, nowMs);
    const d = device.reserve(1, nowMs, maxWait);
    if (d < 0) return { refused: 'TIQ_ERR_RATE_LIMITED', limit: 'devicePublishesPerSecond' };
    const m = t.messages.reserve(1, nowMs, maxWait);
    if (m < 0) {
      device.refund(1);
      return { refused: 'TIQ_ERR_QUOTA', limit: 'messagesPerSecond' };
    }
    const b = t.bytes.reserve(bytes, nowMs, maxWait);
    if (b < 0) {
      device.refund(1);
      t.messages.refund(1);
      return { refused: 'TIQ_ERR_QUOTA', limit: 'bytesPerSecond' };
    }
    return { delayMs: Math.max(d, m, b) };
  }

  /** The tenants' shares changed (cluster membership): existing buckets take the new rates, keeping their tokens. */
  retune(nowMs: number): void {
    for (const [tenantId, t] of this.tenants) {
      const q = this.quotasOf(tenantId);
      t.messages.retune(q.messagesPerSecond, q.messageBurst, nowMs);
      t.bytes.retune(q.bytesPerSecond, q.byteBurst, nowMs);
    }
  }

  /** Quotas changed by a configuration reload apply from the next message. */
  reset(): void {
    this.tenants.clear();
  }

  private tenantBuckets(tenantId: string, nowMs: number): TenantBuckets {
    let t = this.tenants.get(tenantId);
    if (!t) {
      const q = this.quotasOf(tenantId);
      t = { messages: new TokenBucket(q.messagesPerSecond, q.messageBurst, nowMs), bytes: new TokenBucket(q.bytesPerSecond, q.byteBurst, nowMs) };
      this.tenants.set(tenantId, t);
    }
    return t;
  }
}
