/**
 * A grid of equal-area cells: Lambert cylindrical equal-area projection
 * (x = R·λ, y = R·sin φ; Snyder 1987, §10), cut into nCols × nRows cells.
 *
 * The numbers of columns and rows are rounded so the cells tile the sphere
 * exactly: every cell has area 4πR² / (nCols·nRows) at every latitude, and the
 * antimeridian is a cell edge. Towards the poles cells get tall and narrow
 * (same area, other shape). Snapping is deterministic, so averaging repeated
 * reports cannot sharpen a position beyond its cell.
 */
import type { Cell, Coarsener } from './cell.ts';
import { DEG, EARTH_RADIUS_M } from './sphere.ts';

export interface EqualAreaGrid extends Coarsener {
  readonly nCols: number;
  readonly nRows: number;
}

export function createEqualAreaGrid(cellM: number): EqualAreaGrid {
  const nCols = Math.max(1, Math.round((2 * Math.PI * EARTH_RADIUS_M) / cellM));
  const nRows = Math.max(1, Math.round((2 * EARTH_RADIUS_M) / cellM));
  const colOf = (lon: number): number => Math.min(nCols - 1, Math.max(0, Math.floor(((lon + 180) / 360) * nCols)));
  const rowOf = (lat: number): number => Math.min(nRows - 1, Math.max(0, Math.floor(((Math.sin(lat * DEG) + 1) / 2) * nRows)));
  const lonAt = (col: number): number => -180 + (col * 360) / nCols;
  const latAt = (rowEdge: number): number => Math.asin(Math.max(-1, Math.min(1, (2 * rowEdge) / nRows - 1))) / DEG;
  return {
    nCols,
    nRows,
    snap(p) {
      const col = colOf(p.lon);
      const row = rowOf(p.lat);
      p.lon = lonAt(col + 0.5);
      p.lat = latAt(row + 0.5);
    },
    cellOf(lat, lon): Cell {
      const col = colOf(lon);
      const row = rowOf(lat);
      return { south: latAt(row), north: latAt(row + 1), west: lonAt(col), east: lonAt(col + 1), centerLat: latAt(row + 0.5), centerLon: lonAt(col + 0.5) };
    },
  };
}
