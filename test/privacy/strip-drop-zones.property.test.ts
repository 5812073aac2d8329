import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distanceM } from '../../src/privacy/geo/sphere.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import { compileZones, zoneAt } from '../../src/privacy/zones.ts';
import { allNumbers, createSeededRandom, input, sensor, vehicle } from './helpers.ts';

const lat = fc.double({ min: -90, max: 90, noNaN: true });
const lon = fc.double({ min: -180, max: 180, noNaN: true });
const LEAKING = ['latitude', 'longitude', 'altitudeM', 'speedMps', 'headingDeg', 'accuracyM', 'location'];

function engineFor(privacy: Record<string, unknown>) {
  return createPrivacyEngine({ tenants: { acme: { privacy: { policyId: 'p', version: 1, ...privacy } } }, random: createSeededRandom(7) });
}

describe('strip and drop leave no trace', () => {
  const strip = engineFor({ defaults: { '*': { action: 'strip' } } });
  const drop = engineFor({ defaults: { '*': { action: 'drop' } } });

  it('strip deletes location and every leaking field, flat and nested, keeping the rest', () => {
    fc.assert(fc.property(lat, lon, fc.boolean(), (la, lo, isSensor) => {
      const body = isSensor ? sensor(la, lo) : vehicle(la, lo);
      const out = strip.apply(input(body, { stream: isSensor ? 'sensor' : 'location' }));
      expect(out).toEqual({ kind: 'forward', applied: { policyId: 'p', policyVersion: 1, locationAction: 'strip' } });
      for (const k of LEAKING) expect(k in body).toBe(false);
      expect(allNumbers(body)).not.toContain(la);
      expect(allNumbers(body)).not.toContain(lo);
      expect(JSON.stringify(body)).not.toMatch(/latitude|longitude|altitude|speed|heading|accuracy/);
      expect(body.sequence).toBe(1);
    }), { numRuns: 500 });
  });

  it('drop returns a drop and the policy, whatever the point', () => {
    fc.assert(fc.property(lat, lon, (la, lo) => {
      const out = drop.apply(input(vehicle(la, lo)));
      expect(out.kind).toBe('drop');
      expect(out.kind === 'drop' && out.reason).toBe('policy-rule');
    }), { numRuns: 200 });
  });

  it('a message without location reports locationAction none and still loses leaking fields under strip', () => {
    const body: Record<string, unknown> = { timeUnixMs: 1, sequence: 2, speedMps: 3, headingDeg: 4 };
    expect(strip.apply(input(body))).toMatchObject({ kind: 'forward', applied: { locationAction: 'none' } });
    expect(body).toEqual({ timeUnixMs: 1, sequence: 2 });
  });
});

describe('privacy zones', () => {
  const zone = fc.record({ lat: fc.double({ min: -89, max: 89, noNaN: true }), lon, radiusM: fc.double({ min: 50, max: 50_000, noNaN: true }) });
  const method = fc.constantFrom(
    { action: 'keep' },
    { action: 'coarsen', coarsen: { method: 'grid', cellM: 2000 } },
    { action: 'coarsen', coarsen: { method: 'geohash', precision: 4 } },
    { action: 'coarsen', coarsen: { method: 'decimal', places: 1 } },
    { action: 'keep', geoIndistinguishability: { epsilonPerM: 0.001, stickyRadiusM: 0 } },
  );

  it('never emits a point inside a zone: not the input, not a cell centre, not a noisy point', () => {
    fc.assert(fc.property(zone, method, fc.double({ min: 0, max: 2, noNaN: true }), fc.double({ min: 0, max: 360, noNaN: true }), (z, rule, k, bearing) => {
      const engine = engineFor({ defaults: { '*': rule }, zones: [{ name: 'home', shape: 'circle', center: { lat: z.lat, lon: z.lon }, radiusM: z.radiusM }] });
      // Points around the zone: inside, on the border and outside.
      const d = (k * z.radiusM) / 111_000;
      const la = Math.max(-90, Math.min(90, z.lat + d * Math.cos(bearing)));
      const lo = ((z.lon + d * Math.sin(bearing) + 540) % 360) - 180;
      const body = vehicle(la, lo);
      engine.apply(input(body));
      if (typeof body.latitude === 'number') {
        expect(distanceM(body.latitude, body.longitude as number, z.lat, z.lon)).toBeGreaterThan(z.radiusM);
      } else {
        expect('longitude' in body).toBe(false);
      }
    }), { numRuns: 1000 });
  });

  it('polygons across the antimeridian contain points on both sides and nothing far away', () => {
    const [zoneP] = compileZones([{ name: 'fiji', shape: 'polygon', action: 'drop', ring: [{ lat: -16, lon: 178 }, { lat: -16, lon: -179 }, { lat: -19, lon: -179 }, { lat: -19, lon: 178 }] }]);
    expect(zoneP!.contains(-17, 179.5)).toBe(true);
    expect(zoneP!.contains(-17, -179.5)).toBe(true);
    expect(zoneP!.contains(-17, 180)).toBe(true);
    expect(zoneP!.contains(-17, 0)).toBe(false);
    expect(zoneP!.contains(-17, 177.9)).toBe(false);
    expect(zoneP!.contains(-15.9, 179)).toBe(false);
  });

  it('a circle around a pole covers every longitude there', () => {
    const zones = compileZones([{ name: 'pole', shape: 'circle', action: 'strip', center: { lat: 90, lon: 0 }, radiusM: 10_000 }]);
    for (const lo of [-180, -90, 0, 45, 180]) expect(zoneAt(zones, 89.95, lo)?.name).toBe('pole');
    expect(zoneAt(zones, 89.8, 0)).toBeUndefined();
  });

  it('drop zones drop, strip zones strip, and the reason names no zone', () => {
    const engine = engineFor({
      defaults: { '*': { action: 'keep' } },
      zones: [
        { name: 'home', shape: 'polygon', action: 'drop', ring: [{ lat: 0, lon: 0 }, { lat: 0, lon: 1 }, { lat: 1, lon: 1 }, { lat: 1, lon: 0 }] },
        { name: 'depot', shape: 'circle', center: { lat: 10, lon: 10 }, radiusM: 100 },
      ],
    });
    expect(engine.apply(input(vehicle(0.5, 0.5)))).toMatchObject({ kind: 'drop', reason: 'privacy-zone' });
    const body = sensor(10.0001, 10);
    expect(engine.apply(input(body, { stream: 'sensor' }))).toMatchObject({ kind: 'forward', applied: { locationAction: 'strip' } });
    expect('location' in body).toBe(false);
    expect(engine.apply(input(vehicle(5, 5)))).toMatchObject({ kind: 'forward', applied: { locationAction: 'keep' } });
  });
});
