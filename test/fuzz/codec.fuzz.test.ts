/**
 * decode + validate never throw anything but TIQ_ERR_DECODE / TIQ_ERR_VALIDATION,
 * and never accept a body with a non-finite number or an out-of-range
 * coordinate, whatever the bytes: random, mutated valid protobuf, random JSON.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TiqError } from '../../src/errors.ts';
import { TelemetryCodec } from '../../src/messages/codec.ts';
import { VALIDATORS } from '../../src/messages/validate.ts';
import { encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { fuzzRuns, LONG_RUN } from './fuzz-runs.ts';

const codec = TelemetryCodec.load();
const NOW = Date.now();
const LIMITS = { nowMs: NOW, maxClockSkewMs: 7 * 86400_000 };
const TYPES = [VEHICLE, SENSOR] as const;

function checkBody(value: unknown, path: string[] = []): void {
  if (typeof value === 'number') expect(Number.isFinite(value), path.join('.')).toBe(true);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o['latitude'] === 'number') expect(Math.abs(o['latitude'])).toBeLessThanOrEqual(90);
    if (typeof o['longitude'] === 'number') expect(Math.abs(o['longitude'])).toBeLessThanOrEqual(180);
    for (const [k, v] of Object.entries(o)) checkBody(v, [...path, k]);
  }
}

/** The property: a TiqError of the two codes, or a body that is sane. */
function decodeAndValidate(type: string, payload: Buffer): void {
  try {
    const body = codec.decode(type, payload, TelemetryCodec.sniff(payload));
    VALIDATORS[type]!(body, LIMITS);
    checkBody(body);
  } catch (err) {
    if (!(err instanceof TiqError)) throw err;
    expect(['TIQ_ERR_DECODE', 'TIQ_ERR_VALIDATION']).toContain(err.code);
  }
}

const type = fc.constantFrom(...TYPES);
const seeds = [encode(VEHICLE, vehicle({ timeUnixMs: NOW })), encode(SENSOR, sensor({ timeUnixMs: NOW })), encode(VEHICLE, vehicle({ timeUnixMs: NOW, tripId: 'trip-1', altitudeM: 100, accuracyM: 5 }))];

/** A valid encoding with bytes overwritten, inserted or cut. */
const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { maxLength: 8 }))
  .map(([seed, edits]) => {
    const bytes = [...seed];
    for (const [at, value, op] of edits) {
      const i = at % (bytes.length + 1);
      if (op === 'set' && i < bytes.length) bytes[i] = value;
      else if (op === 'insert') bytes.splice(i, 0, value);
      else bytes.length = Math.min(bytes.length, i);
    }
    return Buffer.from(bytes);
  });

const jsonValue = fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.boolean(), fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e400'));
const fieldName = fc.constantFrom('timeUnixMs', 'sequence', 'latitude', 'longitude', 'speedMps', 'headingDeg', 'altitudeM', 'accuracyM', 'tripId', 'measurements', 'location', 'time_unix_ms', 'speed_mps', 'extra');
const jsonBody = fc.dictionary(fieldName, fc.oneof(jsonValue, fc.array(fc.dictionary(fc.constantFrom('name', 'value', 'unit'), jsonValue)), fc.dictionary(fieldName, jsonValue)))
  .map((o) => Buffer.from(JSON.stringify(o).replace(/"(NaN|-?Infinity|1e400)"/g, (_m, v: string) => v)));

describe('decode and validate under fuzzing', { timeout: LONG_RUN ? 0 : 30_000 }, () => {
  it('random bytes', () => {
    fc.assert(fc.property(type, fc.uint8Array({ maxLength: 256 }), (t, b) => decodeAndValidate(t, Buffer.from(b))), { numRuns: fuzzRuns(2000) });
  });

  it('mutated valid protobuf', () => {
    fc.assert(fc.property(type, mutated, decodeAndValidate), { numRuns: fuzzRuns(2000) });
  });

  it('random JSON, including NaN, infinities and huge exponents as bare tokens', () => {
    fc.assert(fc.property(type, jsonBody, decodeAndValidate), { numRuns: fuzzRuns(2000) });
  });

  it('any double in any numeric field of a VehicleLocation', () => {
    const numeric = fc.record({ latitude: fc.double(), longitude: fc.double(), speedMps: fc.double(), headingDeg: fc.double(), altitudeM: fc.double(), accuracyM: fc.double() }, { requiredKeys: [] });
    fc.assert(fc.property(numeric, (fields) => decodeAndValidate(VEHICLE, encode(VEHICLE, vehicle({ timeUnixMs: NOW, latitude: undefined, longitude: undefined, speedMps: undefined, headingDeg: undefined, ...fields })))), { numRuns: fuzzRuns(2000) });
  });
});
