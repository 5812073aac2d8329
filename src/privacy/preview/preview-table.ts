/** The before/after table of a preview (exact coordinates: it is the operator's own trace). */
import type { PreviewRow } from './run-preview.ts';

const num = (v: unknown, digits: number): string => (typeof v === 'number' ? v.toFixed(digits) : '-');
const time = (v: unknown): string => (typeof v === 'number' ? new Date(v).toISOString().replace('.000Z', 'Z') : '-');

export function formatPreviewTable(rows: readonly PreviewRow[]): string {
  const header = ['#', 'time before', 'lat before', 'lon before', 'time after', 'lat after', 'lon after', 'speed', 'heading', 'action'];
  const lines = rows.map((r) => {
    const a = r.after;
    const action = r.dropReason ? `drop (${r.dropReason})` : r.applied.locationAction;
    return [
      String(r.index + 1), time(r.before.timeUnixMs), num(r.before.latitude, 6), num(r.before.longitude, 6),
      a ? time(a.timeUnixMs) : '-', num(a?.latitude, 6), num(a?.longitude, 6), num(a?.speedMps, 1), num(a?.headingDeg, 0), action,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}
