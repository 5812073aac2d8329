/**
 * Planar Laplace mechanism (Andrés, Bordenabe, Chatzikokolakis, Palamidessi,
 * "Geo-Indistinguishability", CCS 2013, §4). The density is ∝ e^(−ε·r): the
 * angle is uniform and the radius follows Gamma(2, 1/ε) (its CDF is
 * C_ε(r) = 1 − (1 + εr)·e^(−εr), eq. 4), sampled here as the sum of two
 * exponential variates instead of through Lambert W. The displacement is laid
 * out in an azimuthal equidistant projection centred on the true point, so
 * distances in metres are exact.
 *
 * Fresh noise on every report of a parked device would average away (§5
 * discusses repeated use); the noisy point is reused while the device stays
 * within `stickyRadiusM` of the true point the noise was drawn for.
 */
import { destination, distanceM, type LatLon } from './geo/sphere.ts';
import type { RandomSource } from './random.ts';

export interface StickyNoiseState {
  anchorLat: number;
  anchorLon: number;
  noisyLat: number;
  noisyLon: number;
}

/** One noise radius, metres, ~ Gamma(shape 2, scale 1/ε). */
export function sampleNoiseRadius(epsilonPerM: number, random: RandomSource): number {
  // 1 − U is in (0, 1], so the logarithm is finite.
  return -(Math.log(1 - random.next()) + Math.log(1 - random.next())) / epsilonPerM;
}

export function addPlanarLaplaceNoise(p: LatLon, epsilonPerM: number, random: RandomSource): void {
  const bearing = 2 * Math.PI * random.next();
  destination(p.lat, p.lon, bearing, sampleNoiseRadius(epsilonPerM, random), p);
}

/** Per-device sticky noise, bounded in size: the oldest device is forgotten first. */
export class StickyNoise {
  readonly #states = new Map<string, StickyNoiseState>();
  readonly #maxDevices: number;
  readonly #random: RandomSource;

  constructor(random: RandomSource, maxDevices = 100_000) {
    this.#random = random;
    this.#maxDevices = maxDevices;
  }

  /** Replaces p with the device's noisy point, drawing fresh noise only when it moved away. */
  apply(key: string, p: LatLon, epsilonPerM: number, stickyRadiusM: number): void {
    const prev = this.#states.get(key);
    if (prev && distanceM(prev.anchorLat, prev.anchorLon, p.lat, p.lon) <= stickyRadiusM) {
      p.lat = prev.noisyLat;
      p.lon = prev.noisyLon;
      return;
    }
    const anchorLat = p.lat, anchorLon = p.lon;
    addPlanarLaplaceNoise(p, epsilonPerM, this.#random);
    this.#states.delete(key);
    if (this.#states.size >= this.#maxDevices) {
      const oldest = this.#states.keys().next().value;
      if (oldest !== undefined) this.#states.delete(oldest);
    }
    this.#states.set(key, { anchorLat, anchorLon, noisyLat: p.lat, noisyLon: p.lon });
  }

  clear(): void {
    this.#states.clear();
  }

  /** Forgets the noise of every device whose key starts with `prefix` (one tenant's: `tenant/`). */
  forgetPrefix(prefix: string): void {
    for (const key of this.#states.keys()) if (key.startsWith(prefix)) this.#states.delete(key);
  }
}
