/**
 * Spherical geometry on the authalic sphere (same surface area as WGS 84), so
 * that areas computed here are true areas to within about 0.7 %.
 */

/** Authalic radius of WGS 84, metres (Snyder, Map Projections: A Working Manual, 1987, p. 16). */
export const EARTH_RADIUS_M = 6_371_007.181;
export const DEG = Math.PI / 180;

/** A mutable point, reused to avoid an allocation per message. */
export interface LatLon {
  lat: number;
  lon: number;
}

/** Longitude into [-180, 180]; 180 stays 180. */
export function normalizeLon(lon: number): number {
  if (lon >= -180 && lon <= 180) return lon;
  const wrapped = ((((lon + 180) % 360) + 360) % 360) - 180;
  return wrapped;
}

/** Great-circle distance in metres (haversine: stable for small distances). */
export function distanceM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * DEG;
  const dLon = (lon2 - lon1) * DEG;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * DEG) * Math.cos(lat2 * DEG) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/**
 * The point `distM` metres from (lat, lon) along `bearingRad` (clockwise from
 * north): the inverse azimuthal equidistant projection centred on the start,
 * so planar noise drawn there keeps its length exactly, across poles and the
 * antimeridian.
 */
export function destination(lat: number, lon: number, bearingRad: number, distM: number, out: LatLon): LatLon {
  const d = distM / EARTH_RADIUS_M;
  const p1 = lat * DEG;
  const sinP2 = Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(bearingRad);
  const p2 = Math.asin(Math.max(-1, Math.min(1, sinP2)));
  const y = Math.sin(bearingRad) * Math.sin(d) * Math.cos(p1);
  const x = Math.cos(d) - Math.sin(p1) * sinP2;
  out.lat = p2 / DEG;
  out.lon = normalizeLon(lon + Math.atan2(y, x) / DEG);
  return out;
}
