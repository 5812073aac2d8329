/**
 * Device key-encryption keys: 256-bit random, one live per device, kept in
 * the device key vault wrapped under the tenant's KEK by the tenant's own
 * key provider (local: RFC 5649 under the keyring's KEK; aws-kms:
 * GenerateDataKey/Decrypt with the tenant-only encryption context of
 * docs/keys.md, never a device id). A device's data keys are wrapped under
 * its device KEK with AES key wrap (RFC 5649), so destroying that one vault
 * row makes every copy of them unreadable.
 *
 * Unwrapped device KEKs are cached (least recently used, bounded); every use
 * first checks the vault still holds the KEK, so a destroyed one is never
 * used from memory, even by a process that missed the eviction.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { TiqError } from '../errors.ts';
import { unwrapKey, wrapKey } from './aes-key-wrap.ts';
import { deviceKey } from './data-key-cache.ts';
import { parseDeviceKekRef, type DestroyRequest, type StoredDeviceKek } from './device-key-vault.ts';
import type { DeviceKekStore } from './device-kek-store.ts';
import type { KeyProvider } from './key-provider.ts';

export interface DeviceKeksOptions {
  readonly vault: DeviceKekStore;
  /** Wraps device KEKs under tenant KEKs (the tenant router). */
  readonly provider: KeyProvider;
  readonly maxCached: number;
  readonly now?: () => number;
}

export interface DeviceKekRewrap {
  readonly scanned: number;
  readonly rewrapped: number;
}

interface CachedKek {
  readonly deviceKey: string;
  readonly key: KeyObject;
}

export class DeviceKeks {
  readonly vault: DeviceKekStore;
  readonly #provider: KeyProvider;
  readonly #max: number;
  readonly #now: () => number;
  /** kekRef → unwrapped KEK; Map order is recency. */
  readonly #cache = new Map<string, CachedKek>();
  readonly #pending = new Map<string, Promise<StoredDeviceKek>>();

  constructor(options: DeviceKeksOptions) {
    this.vault = options.vault;
    this.#provider = options.provider;
    this.#max = options.maxCached;
    this.#now = options.now ?? Date.now;
  }

  /** Wraps a new data key of the device under its live KEK, making that KEK on first need. */
  async wrapDataKey(tenantId: string, deviceId: string, dek: Buffer): Promise<{ wrapped: Buffer; kekRef: string }> {
    const stored = await this.vault.get(tenantId, deviceId) ?? await this.#create(tenantId, deviceId);
    const key = await this.#open(stored);
    return { wrapped: wrapKey(key, dek), kekRef: stored.kekRef };
  }

  /** TIQ_ERR_KEY_SHREDDED once the KEK the reference names is destroyed. */
  async unwrapDataKey(tenantId: string, deviceId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
    const ref = parseDeviceKekRef(kekRef);
    // A data key wrapped for another device must never unwrap here, even if its row says so.
    if (!ref || ref.tenantId !== tenantId || ref.deviceId !== deviceId) {
      throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'device key reference does not belong to this device', kekRef });
    }
    const stored = await this.vault.getByRef(kekRef);
    if (!stored) {
      this.#cache.delete(kekRef);
      throw new TiqError('TIQ_ERR_KEY_SHREDDED', { tenantId, deviceId, kekRef });
    }
    const key = await this.#open(stored);
    try {
      return unwrapKey(key, wrapped);
    } catch {
      throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'wrapped data key failed its integrity check', kekRef });
    }
  }

  /** Destroys the device's KEK in the vault (with a tombstone) and drops it from memory. */
  async destroy(tenantId: string, deviceId: string, request: DestroyRequest): Promise<string[]> {
    const refs = await this.vault.destroy(tenantId, deviceId, request);
    this.forget(tenantId, deviceId);
    return refs;
  }

  /**
   * Applies a shred recorded elsewhere (the control store's feed: another
   * gateway with its own vault, or a vault restored from before it): destroys
   * the device's KEK if it predates the shred and this vault has no tombstone
   * for that receipt yet. A KEK made after the shred is the device's fresh one.
   */
  async applyTombstone(t: { tenantId: string; deviceId: string; receiptId: string; atMs: number }): Promise<string[]> {
    if (await this.vault.hasTombstone(t.receiptId)) return [];
    return this.destroy(t.tenantId, t.deviceId, { receiptId: t.receiptId, atMs: t.atMs, createdAtOrBeforeMs: t.atMs });
  }

  /** Drops the device's unwrapped KEKs from memory (after a shred, wherever it was made). */
  forget(tenantId: string, deviceId: string): void {
    const k = deviceKey(tenantId, deviceId);
    for (const [ref, e] of this.#cache) if (e.deviceKey === k) this.#cache.delete(ref);
    this.#pending.delete(k);
  }

  /**
   * Re-wraps the tenant's device KEKs under its primary KEK (after a rotation):
   * one provider call per device, no data key or record touched.
   */
  async rewrapTenant(tenantId: string, options: { all?: boolean; batchSize?: number } = {}): Promise<DeviceKekRewrap> {
    const primary = await this.#provider.primaryKekRef(tenantId);
    let scanned = 0;
    let rewrapped = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.vault.listTenant(tenantId, { ...(after !== undefined ? { afterDeviceId: after } : {}), limit: options.batchSize ?? 500 });
      const updates = [];
      for (const kek of page) {
        scanned++;
        if (!options.all && kek.tenantKekRef === primary) continue;
        const moved = await this.#provider.rewrapDataKey(tenantId, kek.wrapped, kek.tenantKekRef);
        updates.push({ kek, wrapped: moved.wrapped, tenantKekRef: moved.kekRef });
      }
      if (updates.length) rewrapped += await this.vault.updateWrapped(updates);
      const last = page.at(-1);
      if (!last || page.length < (options.batchSize ?? 500)) return { scanned, rewrapped };
      after = last.deviceId;
    }
  }

  close(): void {
    this.#cache.clear();
    this.#pending.clear();
  }

  /** One creation per device at a time; the vault keeps the first if two processes race. */
  #create(tenantId: string, deviceId: string): Promise<StoredDeviceKek> {
    const k = deviceKey(tenantId, deviceId);
    let pending = this.#pending.get(k);
    if (!pending) {
      pending = (async () => {
        const generated = await this.#provider.generateDataKey(tenantId);
        try {
          const stored = await this.vault.insertIfAbsent(tenantId, deviceId, generated.wrapped, generated.kekRef, this.#now());
          if (stored.wrapped.equals(generated.wrapped)) this.#remember(stored.kekRef, k, createSecretKey(generated.plaintext));
          return stored;
        } finally {
          generated.plaintext.fill(0);
        }
      })().finally(() => {
        if (this.#pending.get(k) === pending) this.#pending.delete(k);
      });
      this.#pending.set(k, pending);
    }
    return pending;
  }

  async #open(stored: StoredDeviceKek): Promise<KeyObject> {
    const cached = this.#cache.get(stored.kekRef);
    if (cached) {
      this.#cache.delete(stored.kekRef);
      this.#cache.set(stored.kekRef, cached);
      return cached.key;
    }
    const raw = await this.#provider.unwrapDataKey(stored.tenantId, stored.wrapped, stored.tenantKekRef);
    const key = createSecretKey(raw);
    raw.fill(0);
    // Destroyed while the provider unwrapped it: use it for nothing more, keep nothing.
    if (!await this.vault.getByRef(stored.kekRef)) throw new TiqError('TIQ_ERR_KEY_SHREDDED', { tenantId: stored.tenantId, deviceId: stored.deviceId, kekRef: stored.kekRef });
    this.#remember(stored.kekRef, deviceKey(stored.tenantId, stored.deviceId), key);
    return key;
  }

  #remember(kekRef: string, device: string, key: KeyObject): void {
    this.#cache.set(kekRef, { deviceKey: device, key });
    while (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
  }
}
