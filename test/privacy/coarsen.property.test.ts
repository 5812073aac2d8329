import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDecimalGrid } from '../../src/privacy/geo/decimal-grid.ts';
import { createEqualAreaGrid } from '../../src/privacy/geo/equal-area-grid.ts';
import { createGeohashGrid, encodeGeohash } from '../../src/privacy/geo/geohash.ts';
import { DEG, EARTH_RADIUS_M } from '../../src/privacy/geo/sphere.ts';

/** Latitudes and longitudes over the whole globe, with poles, equator and the antimeridian over-represented. */
const lat = fc.oneof(fc.double({ min: -90, max: 90, noNaN: true }), fc.constantFrom(-90, 90, 0, -0, 89.999999, -89.999999, 45));
const lon = fc.oneof(fc.double({ min: -180, max: 180, noNaN: true }), fc.constantFrom(-180, 180, 0, 179.9999999, -179.9999999));
const snap = (c: { snap(p: { lat: number; lon: number }): void }, la: number, lo: number): { lat: number; lon: number } => {
  const p = { lat: la, lon: lo };
  c.snap(p);
  return p;
};

describe('equal-area grid', () => {
  const cellM = fc.oneof(fc.double({ min: 1, max: 1_000_000, noNaN: true }), fc.constantFrom(1, 100, 1000, 5000));

  it('emits the centre of the cell containing the input, deterministically, for every point and cell size', () => {
    fc.assert(fc.property(lat, lon, cellM, (la, lo, m) => {
      const grid = createEqualAreaGrid(m);
      const cell = grid.cellOf(la, lo);
      expect(la).toBeGreaterThanOrEqual(cell.south - 1e-9);
      expect(la).toBeLessThanOrEqual(cell.north + 1e-9);
      expect(lo).toBeGreaterThanOrEqual(cell.west - 1e-9);
      expect(lo).toBeLessThanOrEqual(cell.east + 1e-9);
      const out = snap(grid, la, lo);
      expect(out).toEqual({ lat: cell.centerLat, lon: cell.centerLon });
      expect(snap(grid, la, lo)).toEqual(out);
      expect(Math.abs(out.lon)).toBeLessThan(180);
    }), { numRuns: 3000 });
  });

  it('carries no more precision than the cell: the output is one of nCols x nRows centres', () => {
    fc.assert(fc.property(lat, lon, cellM, (la, lo, m) => {
      const grid = createEqualAreaGrid(m);
      const out = snap(grid, la, lo);
      const col = ((out.lon + 180) / 360) * grid.nCols - 0.5;
      const row = ((Math.sin(out.lat * DEG) + 1) / 2) * grid.nRows - 0.5;
      expect(Math.abs(col - Math.round(col))).toBeLessThan(1e-6);
      expect(Math.abs(row - Math.round(row))).toBeLessThan(1e-6);
      // Idempotent: snapping a centre again changes nothing.
      expect(snap(grid, out.lat, out.lon)).toEqual(out);
    }), { numRuns: 3000 });
  });

  it('has cells of equal area at the equator, mid-latitudes and next to the poles', () => {
    const grid = createEqualAreaGrid(1000);
    const area = (la: number): number => {
      const c = grid.cellOf(la, 10);
      return EARTH_RADIUS_M ** 2 * (c.east - c.west) * DEG * (Math.sin(c.north * DEG) - Math.sin(c.south * DEG));
    };
    const equator = area(0.1);
    expect(equator).toBeGreaterThan(0.95e6);
    expect(equator).toBeLessThan(1.05e6);
    for (const la of [45, -60, 89.99, -90, 90]) expect(area(la) / equator).toBeCloseTo(1, 9);
  });

  it('treats the antimeridian as a cell edge: 180 and -180 snap within their own sides', () => {
    const grid = createEqualAreaGrid(1000);
    expect(snap(grid, 0, 180).lon).toBeGreaterThan(179.99);
    expect(snap(grid, 0, -180).lon).toBeLessThan(-179.99);
  });
});

describe('geohash', () => {
  const precision = fc.integer({ min: 1, max: 12 });

  it('emits the centre of the geohash cell of the input (cell found independently from the hash string)', () => {
    fc.assert(fc.property(lat, lon, precision, (la, lo, n) => {
      const out = snap(createGeohashGrid(n), la, lo);
      // The centre encodes to the same hash: same cell.
      expect(encodeGeohash(out.lat, out.lon, n)).toBe(encodeGeohash(la, lo, n));
      const lonBits = Math.ceil((5 * n) / 2), latBits = Math.floor((5 * n) / 2);
      const w = 360 / 2 ** lonBits, h = 180 / 2 ** latBits;
      expect(Math.abs(out.lon - lo)).toBeLessThanOrEqual(w / 2);
      expect(Math.abs(out.lat - la)).toBeLessThanOrEqual(h / 2);
      // No more precision: exactly a cell centre on the dyadic lattice.
      expect(Number.isInteger((out.lon + 180) / w - 0.5)).toBe(true);
      expect(Number.isInteger((out.lat + 90) / h - 0.5)).toBe(true);
    }), { numRuns: 3000 });
  });

  it('matches published geohashes', () => {
    expect(encodeGeohash(57.64911, 10.40744, 11)).toBe('u4pruydqqvj');
    expect(encodeGeohash(42.6, -5.6, 5)).toBe('ezs42');
    const out = snap(createGeohashGrid(5), 42.6, -5.6);
    expect(out.lat).toBeCloseTo(42.60498046875, 12);
    expect(out.lon).toBeCloseTo(-5.60302734375, 12);
  });
});

describe('decimal rounding', () => {
  it('keeps exactly `places` decimals and stays within half a unit of the input', () => {
    fc.assert(fc.property(lat, lon, fc.integer({ min: 0, max: 7 }), (la, lo, places) => {
      const out = snap(createDecimalGrid(places), la, lo);
      expect(Number(out.lat.toFixed(places))).toBe(out.lat);
      expect(Number(out.lon.toFixed(places))).toBe(out.lon);
      const half = 0.5 / 10 ** places + 1e-9;
      expect(Math.abs(out.lat - la)).toBeLessThanOrEqual(half);
      expect(Math.abs(out.lon - lo)).toBeLessThanOrEqual(half);
      expect(Math.abs(out.lat)).toBeLessThanOrEqual(90);
      expect(Math.abs(out.lon)).toBeLessThanOrEqual(180);
      expect(snap(createDecimalGrid(places), la, lo)).toEqual(out);
    }), { numRuns: 3000 });
  });
});
