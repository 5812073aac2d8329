/**
 * The `local` key provider in cluster mode: the same KEK references
 * (`local:<tenant>:v<N>`) and RFC 5649 wrapping as LocalKeyProvider, with
 * the KEK versions in a store every node shares (shared-keyring.ts) instead
 * of a keyring file per process. The primary is the highest version.
 *
 * Versions are cached per tenant; the cache is re-read when a tenant is
 * first used, when a KEK version is asked for that it does not hold (another
 * node rotated), and on refresh() (the control store's feed says a rotation
 * happened). A keyring file left from single-process days is imported once
 * at start, version by version, first writer wins; a version the store holds
 * with other key material refuses the start.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { TiqError, toTiqError } from '../errors.ts';
import { wrapKey } from './aes-key-wrap.ts';
import type { GeneratedDataKey, KekVersionInfo, KeyProvider, RotateResult } from './key-provider.ts';
import { localKekRef, rewrapLocalDataKey, unwrapLocalDataKey, type LocalKekSource } from './local-kek-wrap.ts';
import { DEK_BYTES } from './local-key-provider.ts';
import { loadRootKey, type RootKeySource } from './root-key.ts';
import { readKeyring } from './sealed-keyring-file.ts';
import { sealKek, sealNewKek, unsealKek, type SealedKekVersion, type SharedKeyringStore } from './shared-keyring.ts';

export interface SharedLocalKeyProviderOptions {
  readonly store: SharedKeyringStore;
  /** The root key: the same on every node, never created here. */
  readonly rootKey: RootKeySource;
  /** A keyring file to import at start, when it exists. */
  readonly importFile?: string;
  readonly now?: () => number;
}

interface Version { readonly version: number; readonly createdAtMs: number; readonly key: KeyObject }

export class SharedLocalKeyProvider implements KeyProvider {
  readonly name = 'local';
  readonly #options: SharedLocalKeyProviderOptions;
  readonly #now: () => number;
  #rootKey: KeyObject | undefined;
  readonly #tenants = new Map<string, Map<number, Version>>();
  #lastFailure: string | undefined;

  constructor(options: SharedLocalKeyProviderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    // Every node must hold the same root key: a node minting its own could open nothing the others made.
    this.#rootKey = loadRootKey({ ...this.#options.rootKey, mayCreate: false }).key;
    const file = this.#options.importFile;
    if (file !== undefined && existsSync(file)) await this.#importFile(file);
  }

  async close(): Promise<void> {
    this.#tenants.clear();
    this.#rootKey = undefined;
    await this.#options.store.close();
  }

  async generateDataKey(tenantId: string): Promise<GeneratedDataKey> {
    const primary = await this.#primary(tenantId);
    const plaintext = randomBytes(DEK_BYTES);
    return { plaintext, wrapped: wrapKey(primary.key, plaintext), kekRef: localKekRef(tenantId, primary.version) };
  }

  async unwrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
    return unwrapLocalDataKey(this.#keks, tenantId, wrapped, kekRef);
  }

  async rewrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }> {
    return rewrapLocalDataKey(this.#keks, tenantId, wrapped, kekRef);
  }

  /**
   * The version after the primary this node holds (kept current by the
   * control store's feed): nodes rotating the same primary at once make one
   * new version, the first writer's, and all adopt it. A node whose primary
   * someone already rotated away from makes nothing and adopts the newest.
   */
  async rotate(tenantId: string): Promise<RotateResult> {
    const from = (await this.#primary(tenantId)).version;
    await this.#create(tenantId, from + 1);
    const newest = Math.max(...(await this.#reload(tenantId)).keys());
    return { kekRef: localKekRef(tenantId, newest), changed: true };
  }

  async refresh(tenantId: string): Promise<void> {
    await this.#reload(tenantId);
  }

  async primaryKekRef(tenantId: string): Promise<string> {
    return localKekRef(tenantId, (await this.#primary(tenantId)).version);
  }

  async describeKeks(tenantId: string): Promise<KekVersionInfo[]> {
    const versions = [...(await this.#reload(tenantId)).values()].sort((a, b) => a.version - b.version);
    const primary = versions.at(-1)?.version;
    return versions.map((v) => ({ kekRef: localKekRef(tenantId, v.version), primary: v.version === primary, createdAtMs: v.createdAtMs }));
  }

  /** Not ready while the shared store could not be read or written the last time it was needed. */
  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (!this.#rootKey) return { ok: false, detail: 'keyring not unsealed' };
    return this.#lastFailure ? { ok: false, detail: this.#lastFailure } : { ok: true };
  }

  /** The highest version, making version 1 when no node has made one yet. */
  async #primary(tenantId: string): Promise<Version> {
    let versions = this.#tenants.get(tenantId);
    if (!versions || versions.size === 0) versions = await this.#reload(tenantId);
    const newest = Math.max(0, ...versions.keys());
    return versions.get(newest) ?? await this.#create(tenantId, 1);
  }

  async #create(tenantId: string, version: number): Promise<Version> {
    const candidate = sealNewKek(this.#root(), tenantId, version, this.#now());
    const stored = await this.#store((s) => s.insertIfAbsent(candidate));
    return this.#remember(stored);
  }

  /** KEK versions from the cache, re-read from the shared store when a version is not held (another node rotated). */
  readonly #keks: LocalKekSource = {
    findVersion: async (tenantId, version) => this.#tenants.get(tenantId)?.get(version) ?? (await this.#reload(tenantId)).get(version),
    primary: (tenantId) => this.#primary(tenantId),
  };

  async #reload(tenantId: string): Promise<Map<number, Version>> {
    const rows = await this.#store((s) => s.list(tenantId));
    const versions = new Map(rows.map((r) => [r.version, this.#open(r)]));
    this.#tenants.set(tenantId, versions);
    return versions;
  }

  #remember(row: SealedKekVersion): Version {
    const v = this.#open(row);
    const versions = this.#tenants.get(row.tenantId) ?? new Map<number, Version>();
    versions.set(v.version, v);
    this.#tenants.set(row.tenantId, versions);
    return v;
  }

  #open(row: SealedKekVersion): Version {
    return { version: row.version, createdAtMs: row.createdAtMs, key: unsealKek(this.#root(), row) };
  }

  /** A store that cannot answer: retryable, so the message waits instead of being refused for good. */
  async #store<T>(fn: (store: SharedKeyringStore) => Promise<T>): Promise<T> {
    try {
      const out = await fn(this.#options.store);
      this.#lastFailure = undefined;
      return out;
    } catch (err) {
      const tiq = toTiqError(err, 'TIQ_ERR_KEY_UNAVAILABLE');
      this.#lastFailure = tiq.code;
      throw tiq;
    }
  }

  async #importFile(file: string): Promise<void> {
    const root = this.#root();
    for (const [tenantId, tenant] of readKeyring(file, root)) {
      for (const v of tenant.versions.values()) {
        const stored = await this.#store((s) => s.insertIfAbsent(sealKek(root, tenantId, v.version, v.createdAtMs, v.key)));
        if (!unsealKek(root, stored).equals(v.key)) {
          throw new TiqError('TIQ_ERR_KEYRING_SEALED', `${file}: version ${v.version} of tenant ${tenantId} differs from the shared keyring's; two keyrings cannot be merged`);
        }
      }
    }
  }

  #root(): KeyObject {
    if (!this.#rootKey) throw new TiqError('TIQ_ERR_KEYRING_SEALED', 'local key provider not started');
    return this.#rootKey;
  }
}
