/** Test helpers: a seeded RNG (never used in production) and message builders. */
import type { RandomSource } from '../../src/privacy/random.ts';
import type { PrivacyInput } from '../../src/privacy/privacy-policy.ts';

/** sfc32 (Chris Doty-Humphrey's PractRand suite): small, fast, good statistics. */
export function createSeededRandom(seed: number): RandomSource {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) u32();
  return { next: () => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992 };
}

export function input(body: Record<string, unknown>, over: Partial<PrivacyInput> = {}): PrivacyInput {
  return {
    tenantId: 'acme', deviceId: 'truck-1', stream: 'location', messageType: 'thingiq.telemetry.v1.VehicleLocation',
    receivedAtMs: Date.UTC(2024, 5, 5, 10, 0), body, ...over,
  };
}

export function vehicle(lat: number, lon: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { timeUnixMs: Date.UTC(2024, 5, 5, 10, 0), sequence: 1, latitude: lat, longitude: lon, altitudeM: 35.25, speedMps: 13.37, headingDeg: 271.3, accuracyM: 4.2, tripId: 't-1', ...extra };
}

export function sensor(lat: number, lon: number): Record<string, unknown> {
  return { timeUnixMs: Date.UTC(2024, 5, 5, 10, 0), sequence: 1, measurements: [{ name: 'temperature', value: 21.5, unit: 'Cel' }], location: { latitude: lat, longitude: lon, altitudeM: 12.5, accuracyM: 3 } };
}

/** Every number anywhere in a value, for "no trace left" checks. */
export function allNumbers(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (v && typeof v === 'object') return Object.values(v).flatMap(allNumbers);
  return [];
}
