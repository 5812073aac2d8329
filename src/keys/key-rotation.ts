/**
 * Operator actions on a tenant's KEKs: rotate, rewrap, status.
 *
 * Rotation never touches records: a new KEK version wraps new DEKs, older
 * versions keep unwrapping old ones. Rewrap moves stored DEKs under the
 * primary KEK (so an old KEK version can later be retired) without touching
 * a payload. It walks the store in dekId order and skips DEKs already under
 * the primary, so re-running it, or starting after the last reported cursor,
 * resumes where it stopped.
 */
import type { DataKeyStore, KekVersionInfo, KeyProvider, RotateResult, WrappedDataKey } from './key-provider.ts';
import type { RecordSealer } from './record-sealer.ts';

export interface KeyOpsContext {
  readonly provider: KeyProvider;
  readonly store: DataKeyStore;
  /** The running gateway's sealer, when the action runs in-process. */
  readonly sealer?: RecordSealer | undefined;
}

export async function rotateTenantKey(ctx: KeyOpsContext, tenantId: string): Promise<RotateResult> {
  const result = await ctx.provider.rotate(tenantId);
  // New records should move to the new version now, not when their DEK retires.
  if (result.changed) ctx.sealer?.forgetTenant(tenantId);
  return result;
}

export interface RewrapOptions {
  /** Resume after this dekId (the cursor of a previous run's progress). */
  readonly afterDekId?: string | undefined;
  readonly batchSize?: number;
  /** Rewrap even DEKs already under the primary reference (after KMS-side rotation). */
  readonly all?: boolean;
  readonly onProgress?: (p: RewrapProgress) => void;
}

export interface RewrapProgress {
  readonly primaryKekRef: string;
  readonly scanned: number;
  readonly rewrapped: number;
  readonly skipped: number;
  /** Resume cursor: the last dekId handled. */
  readonly cursor: string | undefined;
}

export async function rewrapTenantKeys(ctx: KeyOpsContext, tenantId: string, options: RewrapOptions = {}): Promise<RewrapProgress> {
  const primaryKekRef = await ctx.provider.primaryKekRef(tenantId);
  let progress: RewrapProgress = { primaryKekRef, scanned: 0, rewrapped: 0, skipped: 0, cursor: options.afterDekId };
  for await (const page of pages(ctx.store, tenantId, options.batchSize ?? 100, options.afterDekId)) {
    for (const dek of page) {
      const moved = options.all || dek.kekRef !== primaryKekRef;
      if (moved) {
        const { wrapped, kekRef } = await ctx.provider.rewrapDataKey(tenantId, dek.wrapped, dek.kekRef);
        await ctx.store.updateWrappedDataKey(tenantId, dek.dekId, wrapped, kekRef);
      }
      progress = { ...progress, scanned: progress.scanned + 1, rewrapped: progress.rewrapped + (moved ? 1 : 0), skipped: progress.skipped + (moved ? 0 : 1), cursor: dek.dekId };
    }
    options.onProgress?.(progress);
  }
  return progress;
}

export interface KekStatus extends KekVersionInfo {
  readonly ageMs: number | undefined;
  readonly dataKeys: number;
}

export interface TenantKeyStatus {
  readonly tenantId: string;
  readonly provider: string;
  readonly keks: KekStatus[];
  readonly totalDataKeys: number;
}

export async function tenantKeyStatus(ctx: KeyOpsContext & { providerName: string }, tenantId: string, now = Date.now()): Promise<TenantKeyStatus> {
  const counts = new Map<string, number>();
  let total = 0;
  for await (const page of pages(ctx.store, tenantId, 500)) {
    for (const dek of page) counts.set(dek.kekRef, (counts.get(dek.kekRef) ?? 0) + 1);
    total += page.length;
  }
  const known = await ctx.provider.describeKeks(tenantId);
  // DEKs under references the provider no longer lists (another provider, a replaced KMS key) still count.
  const orphans = [...counts.keys()].filter((ref) => !known.some((k) => k.kekRef === ref))
    .map((kekRef): KekVersionInfo => ({ kekRef, primary: false, createdAtMs: undefined }));
  const keks = [...known, ...orphans].map((k) => ({
    ...k,
    ageMs: k.createdAtMs === undefined ? undefined : now - k.createdAtMs,
    dataKeys: counts.get(k.kekRef) ?? 0,
  }));
  return { tenantId, provider: ctx.providerName, keks, totalDataKeys: total };
}

async function* pages(store: DataKeyStore, tenantId: string, limit: number, after?: string): AsyncGenerator<WrappedDataKey[]> {
  let cursor = after;
  for (;;) {
    const page = await store.listDataKeys(tenantId, { limit, ...(cursor !== undefined ? { afterDekId: cursor } : {}) });
    if (page.length) yield page;
    const last = page.at(-1);
    if (!last || page.length < limit) return;
    cursor = last.dekId;
  }
}
