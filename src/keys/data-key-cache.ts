/**
 * In-memory data keys. Keys are held as KeyObjects (the raw bytes are zeroed
 * once imported) and never logged.
 *
 * - ActiveKeyCache: the DEK each (tenant, device) currently encrypts with,
 *   retired after `maxMessages` uses or `maxAgeMs`, whichever comes first.
 *   NIST SP 800-38D §8.3: with random IVs a key must not exceed 2^32
 *   invocations; the default of 2^20 stays far below it.
 * - OpenKeyCache: unwrapped DEKs for reads, least-recently-used, bounded.
 */
import type { KeyObject } from 'node:crypto';

export interface ActiveDataKey {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly dekId: string;
  readonly kekRef: string;
  readonly key: KeyObject;
  readonly createdAtMs: number;
  uses: number;
}

export interface RetirementLimits {
  readonly maxMessages: number;
  readonly maxAgeMs: number;
}

export function deviceKey(tenantId: string, deviceId: string): string {
  return `${tenantId}\u0000${deviceId}`;
}

export class ActiveKeyCache {
  readonly #entries = new Map<string, ActiveDataKey>();
  readonly #limits: RetirementLimits;
  readonly #now: () => number;

  constructor(limits: RetirementLimits, now: () => number) {
    this.#limits = limits;
    this.#now = now;
  }

  /** The device's DEK if it may encrypt one more record; retires it otherwise. */
  usable(tenantId: string, deviceId: string): ActiveDataKey | undefined {
    const k = deviceKey(tenantId, deviceId);
    const entry = this.#entries.get(k);
    if (!entry) return undefined;
    if (this.#isRetired(entry)) {
      this.#entries.delete(k);
      return undefined;
    }
    return entry;
  }

  set(entry: ActiveDataKey): void {
    this.#entries.set(deviceKey(entry.tenantId, entry.deviceId), entry);
  }

  delete(tenantId: string, deviceId: string): void {
    this.#entries.delete(deviceKey(tenantId, deviceId));
  }

  deleteTenant(tenantId: string): void {
    for (const [k, e] of this.#entries) if (e.tenantId === tenantId) this.#entries.delete(k);
  }

  /** Drops every retired entry (idle devices); returns how many. */
  sweep(): number {
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (this.#isRetired(e)) { this.#entries.delete(k); n++; }
    }
    return n;
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #isRetired(e: ActiveDataKey): boolean {
    return e.uses >= this.#limits.maxMessages || this.#now() - e.createdAtMs >= this.#limits.maxAgeMs;
  }
}

export interface OpenDataKey {
  readonly deviceId: string;
  readonly key: KeyObject;
}

export class OpenKeyCache {
  readonly #entries = new Map<string, OpenDataKey>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(tenantId: string, dekId: string): OpenDataKey | undefined {
    const k = deviceKey(tenantId, dekId);
    const entry = this.#entries.get(k);
    if (entry) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.#entries.delete(k);
      this.#entries.set(k, entry);
    }
    return entry;
  }

  set(tenantId: string, dekId: string, entry: OpenDataKey): void {
    this.#entries.set(deviceKey(tenantId, dekId), entry);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  deleteDevice(tenantId: string, deviceId: string): void {
    const prefix = `${tenantId}\u0000`;
    for (const [k, e] of this.#entries) if (k.startsWith(prefix) && e.deviceId === deviceId) this.#entries.delete(k);
  }

  deleteTenant(tenantId: string): void {
    const prefix = `${tenantId}\u0000`;
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) this.#entries.delete(k);
  }

  clear(): void {
    this.#entries.clear();
  }
}
