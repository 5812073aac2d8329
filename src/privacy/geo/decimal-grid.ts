/**
 * Decimal rounding of latitude and longitude. Math.round(v·10^p)/10^p is the
 * double nearest to the decimal k/10^p (an exact integer divided by an exact
 * power of ten, correctly rounded), so no digits beyond `places` survive.
 */
import type { Cell, Coarsener } from './cell.ts';

export function createDecimalGrid(places: number): Coarsener {
  const scale = 10 ** places;
  // `+ 0` turns −0 into 0: the sign of a value that rounded to zero is a bit of the input.
  const round = (v: number): number => Math.round(v * scale) / scale + 0;
  return {
    snap(p) {
      p.lat = round(p.lat);
      p.lon = round(p.lon);
    },
    cellOf(lat, lon): Cell {
      const cLat = round(lat);
      const cLon = round(lon);
      const half = 0.5 / scale;
      return {
        south: Math.max(-90, cLat - half), north: Math.min(90, cLat + half),
        west: Math.max(-180, cLon - half), east: Math.min(180, cLon + half),
        centerLat: cLat, centerLon: cLon,
      };
    },
  };
}
