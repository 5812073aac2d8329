/**
 * One self-contained SVG of a preview: the trace as sent (grey), what the
 * policy lets through (red), privacy zones (blue) and the coarsening cells
 * the output points stand for (orange). Plate carrée scaled by cos(mean
 * latitude), longitudes unwrapped around the first point so traces across
 * the antimeridian stay in one piece.
 */
import { compilePolicy, type DeviceGroups } from '../compile-policy.ts';
import type { Cell } from '../geo/cell.ts';
import { DEG, destination, type LatLon } from '../geo/sphere.ts';
import type { PrivacyConfig } from '../../config/policy-config.ts';
import type { PreviewRow } from './run-preview.ts';

const SIZE = 800;
const PAD = 20;

interface Shapes {
  before: LatLon[];
  after: LatLon[];
  zones: { name: string; ring: LatLon[] }[];
  cells: Cell[];
}

const pointOf = (b: Record<string, unknown> | undefined): LatLon | undefined =>
  b && typeof b.latitude === 'number' && typeof b.longitude === 'number' ? { lat: b.latitude, lon: b.longitude } : undefined;

function circleRing(lat: number, lon: number, radiusM: number): LatLon[] {
  return Array.from({ length: 64 }, (_, i) => destination(lat, lon, (i / 64) * 2 * Math.PI, radiusM, { lat: 0, lon: 0 }));
}

function collect(rows: readonly PreviewRow[], config: PrivacyConfig, deviceGroups: DeviceGroups, deviceId: string, stream: string): Shapes {
  const before = rows.map((r) => pointOf(r.before)).filter((p): p is LatLon => p !== undefined);
  const after = rows.map((r) => pointOf(r.after)).filter((p): p is LatLon => p !== undefined);
  const zones = config.zones.map((z) => ({ name: z.name, ring: z.shape === 'circle' ? circleRing(z.center.lat, z.center.lon, z.radiusM) : z.ring }));
  const coarsener = compilePolicy(config, deviceGroups).ruleFor(deviceId, stream).coarsener;
  const cells = new Map<string, Cell>();
  if (coarsener) {
    for (const r of rows) {
      const p = pointOf(r.after);
      if (!p || r.applied.locationAction !== 'coarsen') continue;
      const c = coarsener.cellOf(p.lat, p.lon);
      cells.set(`${c.south},${c.west}`, c);
    }
  }
  return { before, after, zones, cells: [...cells.values()] };
}

function projector(all: LatLon[]): (p: LatLon) => [number, number] {
  const ref = all[0]?.lon ?? 0;
  const unwrap = (lon: number): number => ref + ((((lon - ref + 180) % 360) + 360) % 360) - 180;
  const meanLat = all.reduce((s, p) => s + p.lat, 0) / Math.max(1, all.length);
  const k = Math.max(0.01, Math.cos(meanLat * DEG));
  const xs = all.map((p) => unwrap(p.lon) * k), ys = all.map((p) => p.lat);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const scale = (SIZE - 2 * PAD) / Math.max(maxX - minX, maxY - minY, 1e-9);
  return (p) => [PAD + (unwrap(p.lon) * k - minX) * scale, SIZE - PAD - (p.lat - minY) * scale];
}

const pts = (ps: LatLon[], proj: (p: LatLon) => [number, number]): string =>
  ps.map((p) => proj(p).map((v) => v.toFixed(2)).join(',')).join(' ');

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderPreviewSvg(rows: readonly PreviewRow[], config: PrivacyConfig, deviceGroups: DeviceGroups, deviceId: string, stream = 'location'): string {
  const s = collect(rows, config, deviceGroups, deviceId, stream);
  const cellRings = s.cells.map((c) => [
    { lat: c.south, lon: c.west }, { lat: c.south, lon: c.east }, { lat: c.north, lon: c.east }, { lat: c.north, lon: c.west },
  ]);
  const all = [...s.before, ...s.after, ...s.zones.flatMap((z) => z.ring), ...cellRings.flat()];
  const proj = projector(all);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE + 40}" viewBox="0 0 ${SIZE} ${SIZE + 40}">`,
    `<title>Privacy policy ${escapeXml(config.policyId)} v${config.version} preview</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<g class="cells" fill="#f5a623" fill-opacity="0.15" stroke="#f5a623">`,
    ...cellRings.map((r) => `<polygon points="${pts(r, proj)}"/>`), '</g>',
    `<g class="zones" fill="#4a90e2" fill-opacity="0.25" stroke="#4a90e2">`,
    ...s.zones.map((z) => `<polygon points="${pts(z.ring, proj)}"><title>${escapeXml(z.name)}</title></polygon>`), '</g>',
    `<polyline class="before" fill="none" stroke="#888" stroke-width="1.5" points="${pts(s.before, proj)}"/>`,
    `<g class="before-points" fill="#888">`, ...s.before.map((p) => `<circle r="2.5" cx="${proj(p)[0].toFixed(2)}" cy="${proj(p)[1].toFixed(2)}"/>`), '</g>',
    `<polyline class="after" fill="none" stroke="#d0021b" stroke-width="1.5" points="${pts(s.after, proj)}"/>`,
    `<g class="after-points" fill="#d0021b">`, ...s.after.map((p) => `<circle r="3.5" cx="${proj(p)[0].toFixed(2)}" cy="${proj(p)[1].toFixed(2)}"/>`), '</g>',
    `<text x="${PAD}" y="${SIZE + 25}" font-family="sans-serif" font-size="13">grey: as sent · red: after policy · blue: privacy zones · orange: coarsening cells</text>`,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
