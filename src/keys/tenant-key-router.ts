/**
 * A KeyProvider that routes each tenant to the provider its config names
 * (KEK writes: generate, rotate, rewrap target), and each wrapped DEK to the
 * provider its KEK reference names (reads), so a tenant's older DEKs stay
 * readable after its provider setting changes, as long as both are configured.
 */
import { TiqError } from '../errors.ts';
import type { GeneratedDataKey, KekVersionInfo, KeyProvider, RotateResult } from './key-provider.ts';

export class TenantKeyRouter implements KeyProvider {
  readonly name = 'router';
  readonly #providers: ReadonlyMap<string, KeyProvider>;
  readonly #providerOf: (tenantId: string) => string;

  constructor(providers: ReadonlyMap<string, KeyProvider>, providerOf: (tenantId: string) => string) {
    this.#providers = providers;
    this.#providerOf = providerOf;
  }

  async start(): Promise<void> {
    for (const p of this.#providers.values()) await p.start();
  }

  async close(): Promise<void> {
    for (const p of this.#providers.values()) await p.close();
  }

  /** The provider instance a tenant writes with. */
  providerFor(tenantId: string): KeyProvider {
    return this.#byName(this.#providerOf(tenantId));
  }

  generateDataKey(tenantId: string): Promise<GeneratedDataKey> {
    return this.providerFor(tenantId).generateDataKey(tenantId);
  }

  unwrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
    return this.#byRef(kekRef).unwrapDataKey(tenantId, wrapped, kekRef);
  }

  rewrapDataKey(tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }> {
    const source = this.#byRef(kekRef);
    if (source !== this.providerFor(tenantId)) {
      throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'rewrap across providers is not supported', kekRef });
    }
    return source.rewrapDataKey(tenantId, wrapped, kekRef);
  }

  rotate(tenantId: string): Promise<RotateResult> {
    return this.providerFor(tenantId).rotate(tenantId);
  }

  async refresh(tenantId: string): Promise<void> {
    await this.providerFor(tenantId).refresh?.(tenantId);
  }

  primaryKekRef(tenantId: string): Promise<string> {
    return this.providerFor(tenantId).primaryKekRef(tenantId);
  }

  describeKeks(tenantId: string): Promise<KekVersionInfo[]> {
    return this.providerFor(tenantId).describeKeks(tenantId);
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    const failing: string[] = [];
    for (const [name, p] of this.#providers) {
      const h = await p.health();
      if (!h.ok) failing.push(`${name}: ${h.detail ?? 'unhealthy'}`);
    }
    return failing.length ? { ok: false, detail: failing.join('; ') } : { ok: true };
  }

  #byRef(kekRef: string): KeyProvider {
    const name = kekRef.slice(0, Math.max(0, kekRef.indexOf(':')));
    return this.#byName(name);
  }

  #byName(name: string): KeyProvider {
    const p = this.#providers.get(name);
    if (!p) throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'key provider not configured', provider: name });
    return p;
  }
}
