/**
 * A trace before and after a policy, drawn as SVG over the Natural Earth land
 * outline (world-atlas, bundled: no tile server). Equirectangular projection
 * around the points, corrected for latitude; zones and coarsening cells on top.
 */
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import land110m from 'world-atlas/land-110m.json';

export interface LatLon { lat: number; lon: number }
export interface Zone { name: string; shape: 'circle' | 'polygon'; center?: LatLon; radiusM?: number; ring?: LatLon[]; action?: string }

const W = 640, H = 420, M_PER_DEG = 111_320;

const topology = land110m as unknown as Topology<{ land: GeometryCollection }>;
const land = feature(topology, topology.objects.land) as unknown as { features: { geometry: { type: string; coordinates: number[][][] | number[][][][] } }[] };

export function TraceMap({ before, after, zones, cellM }: { before: LatLon[]; after: (LatLon | null)[]; zones: Zone[]; cellM: number | undefined }) {
  const cells = cellM === undefined ? [] : [...new Map(after.filter((p): p is LatLon => p !== null).map((p) => [`${p.lat},${p.lon}`, p])).values()];
  // Cells and zones are drawn whole: their extents count like points.
  const halfDeg = (m: number) => m / 2 / M_PER_DEG;
  const around = (c: LatLon, m: number) => [{ lat: c.lat - halfDeg(m), lon: c.lon }, { lat: c.lat + halfDeg(m), lon: c.lon }];
  const all = [...before, ...after.filter((p): p is LatLon => p !== null), ...cells.flatMap((c) => around(c, cellM!)),
    ...zones.flatMap((z) => z.center ? around(z.center, 2 * (z.radiusM ?? 0)) : z.ring ?? [])];
  if (all.length === 0) return <p>No points to draw.</p>;
  const minLat = Math.min(...all.map((p) => p.lat)), maxLat = Math.max(...all.map((p) => p.lat));
  const minLon = Math.min(...all.map((p) => p.lon)), maxLon = Math.max(...all.map((p) => p.lon));
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const halfCellLon = cells.length ? halfDeg(cellM!) / k : 0;
  const spanX = Math.max((maxLon - minLon + 2 * halfCellLon) * k, 0.01), spanY = Math.max(maxLat - minLat, 0.01);
  const scale = Math.min(W / spanX, H / spanY) * 0.8;
  const cx = (minLon + maxLon) / 2, cy = (minLat + maxLat) / 2;
  const x = (lon: number) => W / 2 + (lon - cx) * k * scale;
  const y = (lat: number) => H / 2 - (lat - cy) * scale;
  const metres = (m: number) => (m / M_PER_DEG) * scale;
  const path = (pts: LatLon[]) => pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.lon).toFixed(1)},${y(p.lat).toFixed(1)}`).join('');
  return (
    <svg class="map" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`map: ${before.length} points before, ${after.filter(Boolean).length} after the policy, ${zones.length} zones`}>
      <rect width={W} height={H} class="sea" />
      {land.features.map((f, i) => <path key={i} class="land" d={landPath(f.geometry, x, y)} />)}
      {zones.map((z) => z.shape === 'circle' && z.center
        ? <circle key={z.name} class="zone" cx={x(z.center.lon)} cy={y(z.center.lat)} r={metres(z.radiusM ?? 0)}><title>zone {z.name}: {z.action}</title></circle>
        : <path key={z.name} class="zone" d={`${path(z.ring ?? [])}Z`}><title>zone {z.name}: {z.action}</title></path>)}
      {cells.map((c) => <rect key={`${c.lat},${c.lon}`} class="cell" x={x(c.lon) - metres(cellM!) / 2} y={y(c.lat) - metres(cellM!) / 2} width={metres(cellM!)} height={metres(cellM!)} />)}
      <path class="before" d={path(before)} />
      {before.map((p, i) => <circle key={`b${i}`} class="before-pt" cx={x(p.lon)} cy={y(p.lat)} r={2.5} />)}
      {after.map((p, i) => p && <circle key={`a${i}`} class="after-pt" data-testid="after-point" cx={x(p.lon)} cy={y(p.lat)} r={4} />)}
    </svg>
  );
}

function landPath(g: { type: string; coordinates: number[][][] | number[][][][] }, x: (lon: number) => number, y: (lat: number) => number): string {
  const polygons = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as number[][][][];
  return polygons.flatMap((rings) => rings.map((ring) => `${ring.map(([lon, lat], i) => `${i ? 'L' : 'M'}${x(lon!).toFixed(1)},${y(lat!).toFixed(1)}`).join('')}Z`)).join('');
}
