/**
 * encode() skips protobufjs's fromObject for types without enums: for any body
 * decode() can produce (and the privacy stage's edits of it), the bytes must
 * be the same as with fromObject.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TelemetryCodec } from '../../src/messages/codec.ts';
import { SENSOR, VEHICLE } from '../helpers/telemetry.ts';

const codec = TelemetryCodec.load();

function viaFromObject(type: string, body: Record<string, unknown>): Buffer {
  const t = codec.type(type);
  return Buffer.from(t.encode(t.fromObject(body)).finish());
}

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const applied = fc.record({ policyId: fc.string(), version: fc.nat(), locationAction: fc.constantFrom('keep', 'coarsen', 'strip', 'none') });
const vehicleBody = fc.record({
  timeUnixMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), sequence: fc.nat(),
  latitude: maybe(fc.double({ min: -90, max: 90, noNaN: true })), longitude: maybe(fc.double({ min: -180, max: 180, noNaN: true })),
  altitudeM: maybe(fc.double({ noNaN: true })), speedMps: maybe(fc.double({ min: 0, noNaN: true })), headingDeg: maybe(fc.double({ min: 0, max: 359, noNaN: true })),
  accuracyM: maybe(fc.double({ min: 0, noNaN: true })), tripId: maybe(fc.string({ maxLength: 64 })), privateMode: maybe(fc.boolean()), appliedPolicy: maybe(applied),
}, { requiredKeys: ['timeUnixMs', 'sequence'] });
const sensorBody = fc.record({
  timeUnixMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), sequence: fc.nat(),
  measurements: fc.array(fc.record({ name: fc.string({ minLength: 1 }), value: fc.double({ noNaN: true }), unit: fc.string() }), { maxLength: 5 }),
  location: maybe(fc.record({ latitude: fc.double({ min: -90, max: 90, noNaN: true }), longitude: fc.double({ min: -180, max: 180, noNaN: true }) })),
  privateMode: maybe(fc.boolean()), appliedPolicy: maybe(applied),
}, { requiredKeys: ['timeUnixMs', 'sequence', 'measurements'] });

describe('TelemetryCodec.encode', () => {
  for (const [type, arb] of [[VEHICLE, vehicleBody], [SENSOR, sensorBody]] as const) {
    it(`${type}: same bytes as fromObject + encode, for decoded bodies and policy edits`, () => {
      fc.assert(fc.property(arb, (raw) => {
        const body = codec.decode(type, viaFromObject(type, raw), 'protobuf');
        expect(codec.encode(type, body, 'protobuf')).toEqual(viaFromObject(type, body));
        // What the privacy stage does: overwrite applied_policy, drop or move location.
        body['appliedPolicy'] = { policyId: 'p', version: 3, locationAction: 'coarsen' };
        if ('latitude' in body) { body['latitude'] = 48.5; delete body['altitudeM']; }
        expect(codec.encode(type, body, 'protobuf')).toEqual(viaFromObject(type, body));
      }), { numRuns: 500 });
    });
  }
});
