/**
 * Geohash cells (G. Niemeyer, 2008): alternate bisection of longitude and
 * latitude, 5 bits per character. Bisection compares against dyadic
 * fractions of 360° and 180°, which are exact in binary floating point, so
 * the cell found here is the cell of the geohash string, boundaries included.
 */
import type { Cell, Coarsener } from './cell.ts';

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

function bisect(value: number, lo: number, hi: number, bits: number, out: [number, number]): void {
  for (let i = 0; i < bits; i++) {
    const mid = (lo + hi) / 2;
    if (value >= mid) lo = mid;
    else hi = mid;
  }
  out[0] = lo;
  out[1] = hi;
}

export function createGeohashGrid(precision: number): Coarsener {
  const bits = 5 * precision;
  const lonBits = Math.ceil(bits / 2);
  const latBits = Math.floor(bits / 2);
  const latRange: [number, number] = [0, 0];
  const lonRange: [number, number] = [0, 0];
  return {
    snap(p) {
      bisect(p.lat, -90, 90, latBits, latRange);
      bisect(p.lon, -180, 180, lonBits, lonRange);
      p.lat = (latRange[0] + latRange[1]) / 2;
      p.lon = (lonRange[0] + lonRange[1]) / 2;
    },
    cellOf(lat, lon): Cell {
      const la: [number, number] = [0, 0];
      const lo: [number, number] = [0, 0];
      bisect(lat, -90, 90, latBits, la);
      bisect(lon, -180, 180, lonBits, lo);
      return { south: la[0], north: la[1], west: lo[0], east: lo[1], centerLat: (la[0] + la[1]) / 2, centerLon: (lo[0] + lo[1]) / 2 };
    },
  };
}

/** The geohash string of a point (used by previews and to check against published values). */
export function encodeGeohash(lat: number, lon: number, precision: number): string {
  let latLo = -90, latHi = 90, lonLo = -180, lonHi = 180;
  let hash = '';
  let ch = 0;
  for (let bit = 0; bit < 5 * precision; bit++) {
    const even = bit % 2 === 0; // even bits refine longitude
    const mid = even ? (lonLo + lonHi) / 2 : (latLo + latHi) / 2;
    const v = even ? lon : lat;
    const one = v >= mid;
    ch = (ch << 1) | (one ? 1 : 0);
    if (even) { if (one) lonLo = mid; else lonHi = mid; } else if (one) latLo = mid; else latHi = mid;
    if (bit % 5 === 4) { hash += BASE32[ch]; ch = 0; }
  }
  return hash;
}
