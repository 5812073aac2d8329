/**
 * Envelope encryption of records: the pipeline's encrypt stage calls seal(),
 * the read path calls open().
 *
 * seal() is synchronous while the device's DEK is cached: the hot path costs
 * one AES-GCM operation, no promise and no KMS round trip. A new DEK is made
 * by the provider, its wrapped form is durably stored (putDataKey) *before*
 * its first use, so no record is ever written under a key that could be lost.
 */
import { createSecretKey, randomBytes, randomUUID } from 'node:crypto';
import { TiqError, toTiqError } from '../errors.ts';
import { ActiveKeyCache, OpenKeyCache, deviceKey, type ActiveDataKey } from './data-key-cache.ts';
import type { DeviceKeks } from './device-keks.ts';
import { isDeviceKekRef } from './device-key-vault.ts';
import type { DataKeyStore, GeneratedDataKey, KeyProvider, WrappedDataKey } from './key-provider.ts';
import { TickBatch } from './tick-batch.ts';
import type { DekCacheConfig } from '../config/keys-config.ts';
import { encodeRecordAad } from './record-aad.ts';
import { gcmDecrypt, gcmEncrypt } from './record-cipher.ts';
import type { EncryptedPayload } from '../records/message.ts';

/** Envelope format 1: AES-256-GCM, 96-bit IV, 128-bit tag, AAD per record-aad.ts. */
export const RECORD_FORMAT_VERSION = 1;

export interface SealInput {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  readonly recordId: string;
  readonly plaintext: Buffer;
}

/** The envelope fields of a stored record (see SealedRecord). */
export type SealedEnvelope = EncryptedPayload;

/** What open() needs; a SealedRecord has all of it. */
export interface OpenInput extends SealedEnvelope {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  readonly recordId: string;
}

export interface RecordSealerOptions {
  readonly provider: KeyProvider;
  readonly store: DataKeyStore;
  readonly limits: Pick<DekCacheConfig, 'maxMessages' | 'maxAgeMs' | 'maxOpenKeys'>;
  readonly now?: () => number;
  /**
   * When set, new DEKs are wrapped under their device's KEK (docs/keys.md,
   * "Device keys"); DEKs under tenant KEKs still unwrap through the provider.
   */
  readonly deviceKeks?: DeviceKeks;
}

export interface SealerStats {
  dataKeysGenerated: number;
  dataKeysUnwrapped: number;
}

export class RecordSealer {
  readonly stats: SealerStats = { dataKeysGenerated: 0, dataKeysUnwrapped: 0 };
  readonly #provider: KeyProvider;
  readonly #store: DataKeyStore;
  readonly #deviceKeks: DeviceKeks | undefined;
  readonly #now: () => number;
  readonly #maxMessages: number;
  /** Bumped by forget*(): a DEK whose creation straddles a shred is used once, never cached. */
  #epoch = 0;
  readonly #active: ActiveKeyCache;
  readonly #open: OpenKeyCache;
  readonly #pendingActive = new Map<string, Promise<ActiveDataKey>>();
  readonly #pendingOpen = new Map<string, Promise<ActiveDataKey['key']>>();
  /** Data keys of a burst of new devices are stored in one transaction (tick-batch.ts). */
  readonly #keyWrites: TickBatch<WrappedDataKey, undefined>;

  constructor(options: RecordSealerOptions) {
    this.#provider = options.provider;
    this.#store = options.store;
    const store = options.store;
    this.#keyWrites = new TickBatch<WrappedDataKey, undefined>(async (keys) => {
      if (store.putDataKeys) await store.putDataKeys(keys);
      else for (const key of keys) await store.putDataKey(key);
      return keys.map(() => undefined);
    });
    this.#deviceKeks = options.deviceKeks;
    this.#now = options.now ?? Date.now;
    this.#maxMessages = options.limits.maxMessages;
    this.#active = new ActiveKeyCache(options.limits, this.#now);
    this.#open = new OpenKeyCache(options.limits.maxOpenKeys);
  }

  /** Synchronous when the device's DEK is cached; otherwise waits for a new one. */
  seal(input: SealInput): SealedEnvelope | Promise<SealedEnvelope> {
    const dek = this.#active.usable(input.tenantId, input.deviceId);
    return dek ? encryptWith(dek, input) : this.#sealWithNewKey(input);
  }

  async open(record: OpenInput): Promise<Buffer> {
    if (record.formatVersion !== RECORD_FORMAT_VERSION) {
      throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'unsupported envelope format version', formatVersion: record.formatVersion });
    }
    const key = await this.#openKey(record.tenantId, record.deviceId, record.dekId);
    return gcmDecrypt(key, record, encodeRecordAad(record));
  }

  /** After a shred: no cached key of the device may encrypt or decrypt again. */
  forgetDevice(tenantId: string, deviceId: string): void {
    this.#epoch++;
    this.#active.delete(tenantId, deviceId);
    this.#pendingActive.delete(deviceKey(tenantId, deviceId));
    this.#open.deleteDevice(tenantId, deviceId);
    this.#deviceKeks?.forget(tenantId, deviceId);
  }

  /** After a rotation: the next record of each device gets a DEK under the new primary KEK. */
  forgetTenant(tenantId: string): void {
    this.#epoch++;
    this.#active.deleteTenant(tenantId);
    for (const k of this.#pendingActive.keys()) if (k.startsWith(`${tenantId}\u0000`)) this.#pendingActive.delete(k);
    this.#open.deleteTenant(tenantId);
  }

  /** Drops DEKs retired by age for devices gone quiet; call it on a timer. */
  sweep(): number {
    return this.#active.sweep();
  }

  close(): void {
    this.#active.clear();
    this.#open.clear();
  }

  async #sealWithNewKey(input: SealInput): Promise<SealedEnvelope> {
    // Loop: concurrent waiters can use up a freshly made DEK's message budget.
    for (;;) {
      const dek = this.#active.usable(input.tenantId, input.deviceId) ?? await this.#activate(input.tenantId, input.deviceId);
      if (dek.uses < this.#maxMessages) return encryptWith(dek, input);
    }
  }

  /** One DEK creation per device at a time, shared by every waiting seal. */
  #activate(tenantId: string, deviceId: string): Promise<ActiveDataKey> {
    const k = deviceKey(tenantId, deviceId);
    let pending = this.#pendingActive.get(k);
    if (!pending) {
      pending = this.#createDataKey(tenantId, deviceId).finally(() => {
        if (this.#pendingActive.get(k) === pending) this.#pendingActive.delete(k);
      });
      this.#pendingActive.set(k, pending);
    }
    return pending;
  }

  async #createDataKey(tenantId: string, deviceId: string): Promise<ActiveDataKey> {
    const epoch = this.#epoch;
    let generated;
    try {
      generated = await this.#generate(tenantId, deviceId);
    } catch (err) {
      // Whatever keeps a data key from being made, the message must not be acknowledged: retryable.
      const e = toTiqError(err, 'TIQ_ERR_KEY_UNAVAILABLE');
      throw e.retryable ? e : new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: e.code }, { cause: e });
    }
    const key = createSecretKey(generated.plaintext);
    generated.plaintext.fill(0);
    const dek: ActiveDataKey = { tenantId, deviceId, dekId: randomUUID(), kekRef: generated.kekRef, key, createdAtMs: this.#now(), uses: 0 };
    await this.#keyWrites.add({ dekId: dek.dekId, tenantId, deviceId, kekRef: dek.kekRef, wrapped: generated.wrapped, createdAtMs: dek.createdAtMs });
    this.stats.dataKeysGenerated++;
    if (epoch === this.#epoch) {
      this.#active.set(dek);
      this.#open.set(tenantId, dek.dekId, { deviceId, key });
    }
    return dek;
  }

  /** A fresh DEK: under the device's KEK when there is a vault, else under the tenant's KEK. */
  async #generate(tenantId: string, deviceId: string): Promise<GeneratedDataKey> {
    if (!this.#deviceKeks) return this.#provider.generateDataKey(tenantId);
    const plaintext = randomBytes(32);
    try {
      return { plaintext, ...await this.#deviceKeks.wrapDataKey(tenantId, deviceId, plaintext) };
    } catch (err) {
      plaintext.fill(0);
      throw err;
    }
  }

  #requireDeviceKeks(): DeviceKeks {
    if (!this.#deviceKeks) throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'data key is under a device key and no device key vault is open' });
    return this.#deviceKeks;
  }

  async #openKey(tenantId: string, deviceId: string, dekId: string): Promise<ActiveDataKey['key']> {
    const cached = this.#open.get(tenantId, dekId);
    if (cached) {
      if (cached.deviceId !== deviceId) throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'data key belongs to another device' });
      return cached.key;
    }
    const k = deviceKey(tenantId, dekId);
    let pending = this.#pendingOpen.get(k);
    if (!pending) {
      pending = this.#unwrapStored(tenantId, deviceId, dekId).finally(() => this.#pendingOpen.delete(k));
      this.#pendingOpen.set(k, pending);
    }
    return pending;
  }

  async #unwrapStored(tenantId: string, deviceId: string, dekId: string): Promise<ActiveDataKey['key']> {
    const stored = await this.#store.getDataKey(tenantId, dekId);
    // Without tombstones a missing DEK cannot be told from a shredded one; the shred receipt is the record.
    if (!stored) throw new TiqError('TIQ_ERR_KEY_SHREDDED', { tenantId, deviceId, dekId });
    if (stored.deviceId !== deviceId || stored.tenantId !== tenantId) {
      throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'data key belongs to another device' });
    }
    // The store's kekRef, not the record's: a rewrap moves the DEK, never the record.
    const raw = isDeviceKekRef(stored.kekRef)
      ? await this.#requireDeviceKeks().unwrapDataKey(tenantId, deviceId, stored.wrapped, stored.kekRef)
      : await this.#provider.unwrapDataKey(tenantId, stored.wrapped, stored.kekRef);
    const key = createSecretKey(raw);
    raw.fill(0);
    this.stats.dataKeysUnwrapped++;
    this.#open.set(tenantId, dekId, { deviceId, key });
    return key;
  }
}

function encryptWith(dek: ActiveDataKey, input: SealInput): SealedEnvelope {
  dek.uses++;
  const binding = { formatVersion: RECORD_FORMAT_VERSION, tenantId: input.tenantId, deviceId: input.deviceId, stream: input.stream, recordId: input.recordId, dekId: dek.dekId };
  const { iv, ciphertext, tag } = gcmEncrypt(dek.key, input.plaintext, encodeRecordAad(binding));
  return { formatVersion: RECORD_FORMAT_VERSION, dekId: dek.dekId, kekRef: dek.kekRef, iv, ciphertext, tag };
}
