/**
 * Operator actions on a tenant's KEKs: rotate, rewrap, status.
 *
 * Rotation never touches records: a new KEK version wraps new device KEKs
 * (the existing ones are re-wrapped under it at once) and, without a vault,
 * new DEKs; older versions keep unwrapping old ones. Rewrap moves stored DEKs under the
 * primary KEK (so an old KEK version can later be retired) without touching
 * a payload. It walks the store in dekId order and skips DEKs already under
 * the primary, so re-running it, or starting after the last reported cursor,
 * resumes where it stopped.
 */
import type { DeviceKeks } from './device-keks.ts';
import { isDeviceKekRef } from './device-key-vault.ts';
import type { DataKeyStore, KekVersionInfo, KeyProvider, RotateResult, WrappedDataKey } from './key-provider.ts';
import type { RecordSealer } from './record-sealer.ts';

export interface KeyOpsContext {
  readonly provider: KeyProvider;
  readonly store: DataKeyStore;
  /** The running gateway's sealer, when the action runs in-process. */
  readonly sealer?: RecordSealer | undefined;
  /** The device KEKs (the key store's vault); without it DEKs stay under tenant KEKs. */
  readonly deviceKeks?: DeviceKeks | undefined;
}

export interface TenantRotateResult extends RotateResult {
  /** Device KEKs moved under the new version (one key-wrap each; no data key or record touched). */
  readonly deviceKeksRewrapped: number;
}

export async function rotateTenantKey(ctx: KeyOpsContext, tenantId: string): Promise<TenantRotateResult> {
  const result = await ctx.provider.rotate(tenantId);
  if (!result.changed) return { ...result, deviceKeksRewrapped: 0 };
  // Device KEKs follow at once (cheap), so the old version wraps nothing new; DEKs under them need nothing.
  const moved = await ctx.deviceKeks?.rewrapTenant(tenantId);
  // New records should move to the new version now, not when their DEK retires.
  ctx.sealer?.forgetTenant(tenantId);
  return { ...result, deviceKeksRewrapped: moved?.rewrapped ?? 0 };
}

export interface RewrapOptions {
  /** Resume after this dekId (the cursor of a previous run's progress). */
  readonly afterDekId?: string | undefined;
  readonly batchSize?: number;
  /** Rewrap even DEKs already under the primary reference (after KMS-side rotation). */
  readonly all?: boolean;
  /** Stop after this many data keys (a slice of a long run: resume with the returned cursor). */
  readonly limit?: number;
  readonly onProgress?: (p: RewrapProgress) => void;
}

export interface RewrapProgress {
  readonly primaryKekRef: string;
  readonly scanned: number;
  /** DEKs moved: under the primary tenant KEK, or (with a vault) from a tenant KEK under their device's KEK. */
  readonly rewrapped: number;
  /** DEKs left as they were (already under the primary, or under a device KEK). */
  readonly skipped: number;
  /** Resume cursor: the last dekId handled. */
  readonly cursor: string | undefined;
  /** Device KEKs moved under the primary tenant KEK (with a vault). */
  readonly deviceKeksRewrapped?: number;
  /** false: stopped at `limit` with data keys left after the cursor. */
  readonly done: boolean;
}

export async function rewrapTenantKeys(ctx: KeyOpsContext, tenantId: string, options: RewrapOptions = {}): Promise<RewrapProgress> {
  const primaryKekRef = await ctx.provider.primaryKekRef(tenantId);
  let progress: RewrapProgress = { primaryKekRef, scanned: 0, rewrapped: 0, skipped: 0, cursor: options.afterDekId, done: false };
  // Device KEKs are few and re-wrapped in one step, by the first slice of a run (no cursor yet).
  if (ctx.deviceKeks && options.afterDekId === undefined) {
    const devices = await ctx.deviceKeks.rewrapTenant(tenantId, { ...(options.all ? { all: true } : {}) });
    progress = { ...progress, deviceKeksRewrapped: devices.rewrapped };
  }
  for await (const page of pages(ctx.store, tenantId, options.batchSize ?? 100, options.afterDekId)) {
    for (const dek of page) {
      if (options.limit !== undefined && progress.scanned >= options.limit) {
        options.onProgress?.(progress);
        return progress;
      }
      const moved = await rewrapOne(ctx, dek, primaryKekRef, options.all === true);
      progress = { ...progress, scanned: progress.scanned + 1, rewrapped: progress.rewrapped + (moved ? 1 : 0), skipped: progress.skipped + (moved ? 0 : 1), cursor: dek.dekId };
    }
    options.onProgress?.(progress);
  }
  return { ...progress, done: true };
}

/**
 * With a vault, a DEK under a tenant KEK (made before device KEKs existed)
 * moves under its device's KEK, so erasure reaches its copies too; DEKs
 * under device KEKs stay (rotation re-wraps the device KEK instead).
 * Without one, DEKs move under the primary tenant KEK.
 */
async function rewrapOne(ctx: KeyOpsContext, dek: WrappedDataKey, primaryKekRef: string, all: boolean): Promise<boolean> {
  if (isDeviceKekRef(dek.kekRef)) return false;
  if (ctx.deviceKeks) {
    const raw = await ctx.provider.unwrapDataKey(dek.tenantId, dek.wrapped, dek.kekRef);
    try {
      const { wrapped, kekRef } = await ctx.deviceKeks.wrapDataKey(dek.tenantId, dek.deviceId, raw);
      await ctx.store.updateWrappedDataKey(dek.tenantId, dek.dekId, wrapped, kekRef);
    } finally {
      raw.fill(0);
    }
    return true;
  }
  if (!all && dek.kekRef === primaryKekRef) return false;
  const { wrapped, kekRef } = await ctx.provider.rewrapDataKey(dek.tenantId, dek.wrapped, dek.kekRef);
  await ctx.store.updateWrappedDataKey(dek.tenantId, dek.dekId, wrapped, kekRef);
  return true;
}

export interface KekStatus extends KekVersionInfo {
  readonly ageMs: number | undefined;
  /** DEKs wrapped directly under this tenant KEK (made before device KEKs). */
  readonly dataKeys: number;
  /** Device KEKs wrapped under this tenant KEK. */
  readonly deviceKeks: number;
}

export interface TenantKeyStatus {
  readonly tenantId: string;
  readonly provider: string;
  readonly keks: KekStatus[];
  readonly totalDataKeys: number;
  /** DEKs wrapped under device KEKs (erasure destroys those with the device KEK). */
  readonly deviceWrappedDataKeys: number;
  readonly totalDeviceKeks: number;
}

export async function tenantKeyStatus(ctx: KeyOpsContext & { providerName: string }, tenantId: string, now = Date.now()): Promise<TenantKeyStatus> {
  const counts = new Map<string, number>();
  let total = 0;
  let underDevice = 0;
  for await (const page of pages(ctx.store, tenantId, 500)) {
    for (const dek of page) {
      if (isDeviceKekRef(dek.kekRef)) underDevice++;
      else counts.set(dek.kekRef, (counts.get(dek.kekRef) ?? 0) + 1);
    }
    total += page.length;
  }
  const deviceCounts = await ctx.deviceKeks?.vault.countByTenantKek(tenantId) ?? new Map<string, number>();
  for (const ref of deviceCounts.keys()) if (!counts.has(ref)) counts.set(ref, 0);
  const known = await ctx.provider.describeKeks(tenantId);
  // DEKs under references the provider no longer lists (another provider, a replaced KMS key) still count.
  const orphans = [...counts.keys()].filter((ref) => !known.some((k) => k.kekRef === ref))
    .map((kekRef): KekVersionInfo => ({ kekRef, primary: false, createdAtMs: undefined }));
  const keks = [...known, ...orphans].map((k) => ({
    ...k,
    ageMs: k.createdAtMs === undefined ? undefined : now - k.createdAtMs,
    dataKeys: counts.get(k.kekRef) ?? 0,
    deviceKeks: deviceCounts.get(k.kekRef) ?? 0,
  }));
  const totalDeviceKeks = [...deviceCounts.values()].reduce((a, b) => a + b, 0);
  return { tenantId, provider: ctx.providerName, keks, totalDataKeys: total, deviceWrappedDataKeys: underDevice, totalDeviceKeks };
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
