/** A coarsening cell: what an output point stands for. Bounds in degrees. */
export interface Cell {
  readonly south: number;
  readonly north: number;
  readonly west: number;
  readonly east: number;
  readonly centerLat: number;
  readonly centerLon: number;
}

/** A compiled coarsening method: snaps in place, and names the cell of a point. */
export interface Coarsener {
  /** Replaces (lat, lon) in `p` with the centre of the cell that contains it. */
  snap(p: { lat: number; lon: number }): void;
  /** The cell containing (lat, lon), for previews and tests. */
  cellOf(lat: number, lon: number): Cell;
}
