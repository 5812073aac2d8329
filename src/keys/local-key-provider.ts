/**
 * The `local` key provider: per-tenant KEK versions in a keyring file sealed
 * by a root key. DEKs are wrapped with AES-256 key wrap with padding
 * (RFC 5649). KEK references read `local:<tenant>:v<N>`.
 *
 * Another process (the CLI's `keys rotate`) may change the keyring file while
 * the gateway runs: before minting a DEK, and when asked for a KEK version it
 * does not know, the provider re-reads the file if it changed on disk.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { TiqError, toTiqError } from '../errors.ts';
import { wrapKey } from './aes-key-wrap.ts';
import type { GeneratedDataKey, KekVersionInfo, KeyProvider, RotateResult } from './key-provider.ts';
import { localKekRef, rewrapLocalDataKey, unwrapLocalDataKey, type LocalKek, type LocalKekSource } from './local-kek-wrap.ts';
import { loadRootKey, type RootKeySource } from './root-key.ts';
import { readKeyring, writeKeyring, type Keyring, type TenantKeyring } from './sealed-keyring-file.ts';

export const DEK_BYTES = 32;

export interface LocalKeyProviderOptions {
  readonly keyringFile: string;
  readonly rootKey: RootKeySource;
  readonly now?: () => number;
}

export { localKekRef, parseLocalKekRef } from './local-kek-wrap.ts';

/**
 * The owner's read bit decides, for every user: root reads any file, but a
 * keyring an operator made unreadable (chmod 000) must stop new data keys
 * the same way whichever user the gateway runs as.
 */
function assertReadable(file: string): void {
  const s = statSync(file, { throwIfNoEntry: false });
  if (!s) throw new TiqError('TIQ_ERR_KEYRING_SEALED', `${file} is missing`);
  if ((s.mode & 0o400) === 0) throw new TiqError('TIQ_ERR_KEYRING_SEALED', `${file} is not readable (mode ${(s.mode & 0o777).toString(8)})`);
}

export class LocalKeyProvider implements KeyProvider {
  readonly name = 'local';
  readonly #options: LocalKeyProviderOptions;
  readonly #now: () => number;
  #rootKey: KeyObject | undefined;
  #keyring: Keyring = new Map();
  #fileStamp = '';

  constructor(options: LocalKeyProviderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Unseals the keyring, creating it (and in development the root key) on first start. */
  async start(): Promise<void> {
    const file = this.#options.keyringFile;
    const keyringExists = existsSync(file);
    // Never mint a fresh root key next to an existing keyring: it could not open it.
    const source = { ...this.#options.rootKey, mayCreate: this.#options.rootKey.mayCreate && !keyringExists };
    this.#rootKey = loadRootKey(source).key;
    if (keyringExists) this.#load();
    else this.#save();
  }

  async close(): Promise<void> {
    this.#keyring = new Map();
    this.#rootKey = undefined;
  }

  async generateDataKey(tenantId: string): Promise<GeneratedDataKey> {
    this.#reloadIfChanged();
    const { version, key } = this.#primary(tenantId);
    const plaintext = randomBytes(DEK_BYTES);
    return { plaintext, wrapped: wrapKey(key, plaintext), kekRef: localKekRef(tenantId, version) };
  }

  async unwrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
    return unwrapLocalDataKey(this.#keks, tenantId, wrapped, kekRef);
  }

  async rewrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }> {
    return rewrapLocalDataKey(this.#keks, tenantId, wrapped, kekRef);
  }

  async rotate(tenantId: string): Promise<RotateResult> {
    this.#reloadIfChanged();
    const tenant = this.#tenant(tenantId);
    const version = Math.max(0, ...tenant.versions.keys()) + 1;
    this.#addVersion(tenant, version);
    this.#save();
    return { kekRef: localKekRef(tenantId, version), changed: true };
  }

  /** Another process rotated: the keyring file is re-read when it changed. */
  async refresh(): Promise<void> {
    this.#reloadIfChanged();
  }

  async primaryKekRef(tenantId: string): Promise<string> {
    this.#reloadIfChanged();
    return localKekRef(tenantId, this.#primary(tenantId).version);
  }

  async describeKeks(tenantId: string): Promise<KekVersionInfo[]> {
    this.#reloadIfChanged();
    const tenant = this.#keyring.get(tenantId);
    if (!tenant) return [];
    return [...tenant.versions.values()]
      .sort((a, b) => a.version - b.version)
      .map((v) => ({ kekRef: localKekRef(tenantId, v.version), primary: v.version === tenant.primary, createdAtMs: v.createdAtMs }));
  }

  /**
   * Ready only while the keyring file can still be read and unsealed: a
   * device without a cached data key needs it, and is refused (no PUBACK)
   * while it cannot be. Reads the file each time; probes are rare.
   */
  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (!this.#rootKey) return { ok: false, detail: 'keyring not unsealed' };
    try {
      assertReadable(this.#options.keyringFile);
      readKeyring(this.#options.keyringFile, this.#rootKey);
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: toTiqError(err, 'TIQ_ERR_KEYRING_SEALED').code };
    }
  }

  /** The tenant's primary KEK, creating version 1 on first use. */
  #primary(tenantId: string): { version: number; key: KeyObject } {
    const tenant = this.#tenant(tenantId);
    const kek = tenant.versions.get(tenant.primary);
    if (!kek) throw new TiqError('TIQ_ERR_KEYRING_SEALED', `keyring has no primary KEK for tenant ${tenantId}`);
    return { version: kek.version, key: kek.key };
  }

  #tenant(tenantId: string): TenantKeyring {
    let tenant = this.#keyring.get(tenantId);
    if (!tenant) {
      tenant = { primary: 1, versions: new Map() };
      this.#addVersion(tenant, 1);
      this.#keyring.set(tenantId, tenant);
      this.#save();
    }
    return tenant;
  }

  #addVersion(tenant: TenantKeyring, version: number): void {
    const raw = randomBytes(32);
    tenant.versions.set(version, { version, createdAtMs: this.#now(), key: createSecretKey(raw) });
    raw.fill(0);
    tenant.primary = version;
  }

  /** KEK versions from the keyring file, re-read when a version is unknown or a primary is needed and the file changed. */
  readonly #keks: LocalKekSource = {
    findVersion: (tenantId, version): LocalKek | undefined => {
      const kek = this.#keyring.get(tenantId)?.versions.get(version);
      if (kek || !this.#reloadIfChanged()) return kek;
      return this.#keyring.get(tenantId)?.versions.get(version);
    },
    primary: (tenantId): LocalKek => {
      this.#reloadIfChanged();
      return this.#primary(tenantId);
    },
  };

  #load(): void {
    assertReadable(this.#options.keyringFile);
    this.#keyring = readKeyring(this.#options.keyringFile, this.#requireRoot());
    this.#fileStamp = this.#stamp();
  }

  #save(): void {
    writeKeyring(this.#options.keyringFile, this.#requireRoot(), this.#keyring);
    this.#fileStamp = this.#stamp();
  }

  #reloadIfChanged(): boolean {
    if (!this.#rootKey || this.#stamp() === this.#fileStamp) return false;
    this.#load();
    return true;
  }

  #stamp(): string {
    const s = statSync(this.#options.keyringFile, { throwIfNoEntry: false });
    // The mode too: a keyring made unreadable is re-checked (and refused) like a changed one.
    return s ? `${s.mtimeMs}:${s.size}:${s.ino}:${s.mode}` : '';
  }

  #requireRoot(): KeyObject {
    if (!this.#rootKey) throw new TiqError('TIQ_ERR_KEYRING_SEALED', 'local key provider not started');
    return this.#rootKey;
  }
}
