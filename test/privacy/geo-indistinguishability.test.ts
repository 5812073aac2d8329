import { describe, expect, it } from 'vitest';
import { distanceM } from '../../src/privacy/geo/sphere.ts';
import { addPlanarLaplaceNoise } from '../../src/privacy/geo-indistinguishability.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import { createCryptoRandom } from '../../src/privacy/random.ts';
import { createSeededRandom, input, vehicle } from './helpers.ts';

/** Kolmogorov–Smirnov statistic of a sample against a continuous CDF. */
function ksStatistic(sample: number[], cdf: (x: number) => number): number {
  const xs = [...sample].sort((a, b) => a - b);
  let d = 0;
  xs.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs((i + 1) / xs.length - f), Math.abs(f - i / xs.length));
  });
  return d;
}

const EPS = 0.01; // per metre: mean radius 2/ε = 200 m
/** Radial CDF of the planar Laplacian, C_ε(r) = 1 − (1 + εr)e^(−εr) (Andrés et al. 2013, eq. 4) = Gamma(2, 1/ε). */
const gamma2 = (r: number): number => 1 - (1 + EPS * r) * Math.exp(-EPS * r);
const N = 4000;
const CRITICAL_1PCT = 1.628 / Math.sqrt(N);

function radii(seed: number): number[] {
  const random = createSeededRandom(seed);
  return Array.from({ length: N }, (_, i) => {
    const lat = -80 + (i % 160), lon = -179 + (i % 358);
    const p = { lat, lon };
    addPlanarLaplaceNoise(p, EPS, random);
    return distanceM(lat, lon, p.lat, p.lon);
  });
}

describe('geo-indistinguishability', () => {
  it('noise radii follow Gamma(2, 1/ε) (KS test at 1 %, fixed seed), and not the exponential law', () => {
    const sample = radii(20240605);
    expect(ksStatistic(sample, gamma2)).toBeLessThan(CRITICAL_1PCT);
    // The test has power: the wrong law (Exp(1/ε), mean 100 m) is rejected.
    expect(ksStatistic(sample, (r) => 1 - Math.exp(-EPS * r))).toBeGreaterThan(CRITICAL_1PCT);
  });

  it('noise directions are uniform: each quadrant gets about a quarter', () => {
    const random = createSeededRandom(99);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < N; i++) {
      const p = { lat: 10, lon: 20 };
      addPlanarLaplaceNoise(p, EPS, random);
      counts[(p.lat > 10 ? 2 : 0) + (p.lon > 20 ? 1 : 0)]! += 1;
    }
    for (const c of counts) expect(Math.abs(c - N / 4)).toBeLessThan(4 * Math.sqrt(N * 0.1875));
  });

  it('the production source is the CSPRNG: uniform in [0, 1) and never repeating in a short run', () => {
    const r = createCryptoRandom();
    const xs = Array.from({ length: 5000 }, () => r.next());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(new Set(xs).size).toBe(xs.length);
    expect(ksStatistic(xs, (x) => x)).toBeLessThan(1.628 / Math.sqrt(xs.length));
  });

  it('reuses the noisy point while the device stays within the sticky radius, and redraws once it leaves', () => {
    const engine = createPrivacyEngine({
      tenants: { acme: { privacy: { policyId: 'p', version: 1, defaults: { '*': { action: 'keep', geoIndistinguishability: { epsilonPerM: EPS, stickyRadiusM: 100 } } } } } },
      random: createSeededRandom(1),
    });
    const report = (lat: number, lon: number, deviceId = 'truck-1'): [number, number] => {
      const body = vehicle(lat, lon);
      expect(engine.apply(input(body, { deviceId })).applied.locationAction).toBe('coarsen');
      return [body.latitude as number, body.longitude as number];
    };
    const first = report(48.137, 11.575);
    expect(first).not.toEqual([48.137, 11.575]);
    for (let i = 0; i < 20; i++) expect(report(48.137 + 0.0005 * Math.sin(i), 11.575)).toEqual(first); // < 60 m away
    const moved = report(48.2, 11.575); // 7 km away
    expect(moved).not.toEqual(first);
    expect(report(48.137, 11.575, 'truck-2')).not.toEqual(first); // per device
  });

  it('a policy change redraws the noise of that tenant only: a change of another tenant leaves it sticky', () => {
    const noisy = (version: number) => ({ privacy: { policyId: 'p', version, defaults: { '*': { action: 'keep' as const, geoIndistinguishability: { epsilonPerM: EPS, stickyRadiusM: 100 } } } } });
    const tenants = (acmeVersion: number, globexGroups: Record<string, string[]>) => ({ acme: noisy(acmeVersion), globex: { ...noisy(1), deviceGroups: globexGroups } });
    const engine = createPrivacyEngine({ tenants: tenants(1, {}), random: createSeededRandom(7) });
    const report = (tenantId: string): [number, number] => {
      const body = vehicle(48.137, 11.575);
      engine.apply(input(body, { tenantId, deviceId: 'truck-1' }));
      return [body.latitude as number, body.longitude as number];
    };
    const acme = report('acme');
    const globex = report('globex');
    // globex changes its groups (say, a tenant-admin's API call): acme's devices keep their noisy point.
    engine.update(tenants(1, { vans: ['van-1'] }));
    expect(report('acme')).toEqual(acme);
    // globex's policy itself changes: its noise is drawn afresh, acme's still not.
    engine.update({ ...tenants(1, { vans: ['van-1'] }), globex: { ...noisy(2), deviceGroups: { vans: ['van-1'] } } });
    expect(report('globex')).not.toEqual(globex);
    expect(report('acme')).toEqual(acme);
    // acme's own policy change redraws acme's.
    engine.update({ ...tenants(2, { vans: ['van-1'] }), globex: { ...noisy(2), deviceGroups: { vans: ['van-1'] } } });
    expect(report('acme')).not.toEqual(acme);
  });

  it('coarsens after the noise (post-processing keeps the guarantee) and the output is a cell centre', () => {
    const engine = createPrivacyEngine({
      tenants: { acme: { privacy: { policyId: 'p', version: 1, defaults: { '*': { action: 'coarsen', coarsen: { method: 'decimal', places: 2 }, geoIndistinguishability: { epsilonPerM: EPS } } } } } },
      random: createSeededRandom(3),
    });
    const body = vehicle(48.13712, 11.57544);
    engine.apply(input(body));
    expect(Number((body.latitude as number).toFixed(2))).toBe(body.latitude);
    expect(Number((body.longitude as number).toFixed(2))).toBe(body.longitude);
  });
});
