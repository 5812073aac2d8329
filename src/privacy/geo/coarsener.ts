/** Compiles a coarsen setting once, at policy load. */
import type { CoarsenConfig } from '../../config/rule-config.ts';
import type { Coarsener } from './cell.ts';
import { createDecimalGrid } from './decimal-grid.ts';
import { createEqualAreaGrid } from './equal-area-grid.ts';
import { createGeohashGrid } from './geohash.ts';

export function createCoarsener(config: CoarsenConfig): Coarsener {
  switch (config.method) {
    case 'grid': return createEqualAreaGrid(config.cellM);
    case 'geohash': return createGeohashGrid(config.precision);
    case 'decimal': return createDecimalGrid(config.places);
  }
}
