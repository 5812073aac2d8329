/**
 * Privacy zones compiled for fast membership tests: a latitude band rejects
 * most points before any trigonometry.
 */
import { DEG, EARTH_RADIUS_M, distanceM } from './geo/sphere.ts';
import type { ZoneConfig } from '../config/zone-config.ts';

export interface CompiledZone {
  readonly name: string;
  readonly action: 'strip' | 'drop';
  contains(lat: number, lon: number): boolean;
}

function compileCircle(zone: Extract<ZoneConfig, { shape: 'circle' }>): CompiledZone {
  const { lat: cLat, lon: cLon } = zone.center;
  const bandDeg = (zone.radiusM / EARTH_RADIUS_M) / DEG;
  return {
    name: zone.name,
    action: zone.action,
    contains(lat, lon) {
      if (Math.abs(lat - cLat) > bandDeg) return false;
      return distanceM(lat, lon, cLat, cLon) <= zone.radiusM;
    },
  };
}

/** Longitude shifted into [ref - 180, ref + 180), so rings across the antimeridian stay contiguous. */
function unwrap(lon: number, ref: number): number {
  let d = lon - ref;
  while (d >= 180) d -= 360;
  while (d < -180) d += 360;
  return ref + d;
}

function compilePolygon(zone: Extract<ZoneConfig, { shape: 'polygon' }>): CompiledZone {
  const ref = zone.ring[0]?.lon ?? 0;
  const lats = Float64Array.from(zone.ring, (p) => p.lat);
  const lons = new Float64Array(zone.ring.length);
  // Unwrap edge by edge: each edge spans less than 180° (the shorter way round).
  let prev = ref;
  zone.ring.forEach((p, i) => { prev = unwrap(p.lon, prev); lons[i] = prev; });
  const south = Math.min(...lats), north = Math.max(...lats);
  const mid = (Math.min(...lons) + Math.max(...lons)) / 2;
  return {
    name: zone.name,
    action: zone.action,
    contains(lat, lon) {
      if (lat < south || lat > north) return false;
      return pointInRing(lats, lons, lat, unwrap(lon, mid));
    },
  };
}

/** Even-odd ray casting (W. R. Franklin, PNPOLY), on the plate carrée of the ring. */
export function pointInRing(lats: Float64Array, lons: Float64Array, lat: number, lon: number): boolean {
  let inside = false;
  const n = lats.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const yi = lats[i]!, yj = lats[j]!, xi = lons[i]!, xj = lons[j]!;
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside || onBoundary(lats, lons, lat, lon);
}

/** Points on an edge count as inside: a zone's border is part of the zone. */
function onBoundary(lats: Float64Array, lons: Float64Array, lat: number, lon: number): boolean {
  const n = lats.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const yi = lats[i]!, yj = lats[j]!, xi = lons[i]!, xj = lons[j]!;
    const cross = (xj - xi) * (lat - yi) - (yj - yi) * (lon - xi);
    if (Math.abs(cross) > 1e-12) continue;
    if (lon >= Math.min(xi, xj) && lon <= Math.max(xi, xj) && lat >= Math.min(yi, yj) && lat <= Math.max(yi, yj)) return true;
  }
  return false;
}

export function compileZones(zones: readonly ZoneConfig[]): readonly CompiledZone[] {
  return zones.map((z) => (z.shape === 'circle' ? compileCircle(z) : compilePolygon(z)));
}

/** The first zone containing the point, or undefined. */
export function zoneAt(zones: readonly CompiledZone[], lat: number, lon: number): CompiledZone | undefined {
  for (const z of zones) if (z.contains(lat, lon)) return z;
  return undefined;
}
