/**
 * Certificates about to expire, for the metrics an operator alerts on: a
 * device whose certificate lapses is refused at its next connection
 * (docs/SECURITY.md), so renewal must come first.
 */
import type { IssuedRecord } from './issuance-registry.ts';

const DAY_MS = 24 * 3600 * 1000;

/** The windows reported, in days (the label `within` is `7d` or `30d`). */
export const EXPIRY_WINDOWS_DAYS = [7, 30] as const;

/**
 * Active (not revoked, not yet expired) device and app certificates whose
 * notAfter falls within each window from `nowMs`, by tenant. Every tenant
 * that has an active certificate gets a row per window, zero included, so
 * an alert can tell "none expiring" from "no data".
 */
export function expiringByTenant(records: readonly IssuedRecord[], nowMs: number): [Record<string, string>, number][] {
  const counts = new Map<string, number[]>();
  for (const r of records) {
    if (r.status !== 'active' || r.tenantId === undefined || (r.kind !== 'device' && r.kind !== 'app')) continue;
    const notAfter = Date.parse(r.notAfter);
    if (!(notAfter > nowMs)) continue;
    let row = counts.get(r.tenantId);
    if (!row) counts.set(r.tenantId, (row = EXPIRY_WINDOWS_DAYS.map(() => 0)));
    EXPIRY_WINDOWS_DAYS.forEach((days, i) => {
      if (notAfter <= nowMs + days * DAY_MS) row[i]! += 1;
    });
  }
  return [...counts].flatMap(([tenant, row]) =>
    EXPIRY_WINDOWS_DAYS.map((days, i): [Record<string, string>, number] => [{ tenant, within: `${days}d` }, row[i]!]));
}
