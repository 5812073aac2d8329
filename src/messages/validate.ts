/**
 * Field validation of decoded telemetry. Everything downstream (privacy
 * geometry, storage, tenants' dashboards) relies on these ranges; a value
 * outside them is refused with TIQ_ERR_VALIDATION naming the field, never
 * echoing the value (it may be a coordinate).
 */
import { TiqError } from '../errors.ts';
import type { TelemetryBody } from '../records/message.ts';

export interface ValidationLimits {
  readonly nowMs: number;
  readonly maxClockSkewMs: number;
}

const MAX_MEASUREMENTS = 64;
const MAX_NAME = 64;
const MAX_UNIT = 32;
const MAX_TRIP_ID = 64;

function fail(field: string, rule: string): never {
  throw new TiqError('TIQ_ERR_VALIDATION', { field, rule });
}

function finite(body: Record<string, unknown>, field: string, path: string, min = -Infinity, max = Infinity, maxExclusive = false): void {
  const v = body[field];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  if (v < min || v > max || (maxExclusive && v === max)) fail(path, `must be in [${min}, ${max}${maxExclusive ? ')' : ']'}`);
}

/** Latitude and longitude come together, in range. */
function point(body: Record<string, unknown>, path: string): void {
  const hasLat = body['latitude'] !== undefined;
  const hasLon = body['longitude'] !== undefined;
  if (hasLat !== hasLon) fail(`${path}latitude/longitude`, 'must be present together');
  finite(body, 'latitude', `${path}latitude`, -90, 90);
  finite(body, 'longitude', `${path}longitude`, -180, 180);
  finite(body, 'altitudeM', `${path}altitudeM`, -12_000, 100_000);
  finite(body, 'accuracyM', `${path}accuracyM`, 0, 1e7);
}

function headerFields(body: TelemetryBody, limits: ValidationLimits): { deviceTimeMs: number; sequence: number } {
  const t = body['timeUnixMs'];
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) fail('timeUnixMs', 'required, milliseconds since the epoch');
  if (Math.abs(t - limits.nowMs) > limits.maxClockSkewMs) fail('timeUnixMs', 'too far from the gateway clock');
  const seq = body['sequence'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) fail('sequence', 'required, an integer >= 1');
  return { deviceTimeMs: t, sequence: seq };
}

function measurements(body: TelemetryBody): void {
  const list = body['measurements'];
  if (list === undefined) return;
  if (!Array.isArray(list) || list.length > MAX_MEASUREMENTS) fail('measurements', `at most ${MAX_MEASUREMENTS}`);
  list.forEach((m: Record<string, unknown>, i) => {
    const name = m['name'];
    if (typeof name !== 'string' || name.length < 1 || name.length > MAX_NAME) fail(`measurements[${i}].name`, `1..${MAX_NAME} characters`);
    const unit = m['unit'];
    if (unit !== undefined && (typeof unit !== 'string' || unit.length > MAX_UNIT)) fail(`measurements[${i}].unit`, `at most ${MAX_UNIT} characters`);
    if (m['value'] === undefined) m['value'] = 0; // proto3: an absent double is 0
    finite(m, 'value', `measurements[${i}].value`);
  });
}

export function validateSensorReading(body: TelemetryBody, limits: ValidationLimits): { deviceTimeMs: number; sequence: number } {
  const header = headerFields(body, limits);
  measurements(body);
  const loc = body['location'];
  if (loc !== undefined) {
    const l = loc as Record<string, unknown>;
    if (l['latitude'] === undefined) l['latitude'] = 0;
    if (l['longitude'] === undefined) l['longitude'] = 0;
    point(l, 'location.');
  }
  return header;
}

export function validateVehicleLocation(body: TelemetryBody, limits: ValidationLimits): { deviceTimeMs: number; sequence: number } {
  const header = headerFields(body, limits);
  point(body, '');
  finite(body, 'speedMps', 'speedMps', 0, 1000);
  finite(body, 'headingDeg', 'headingDeg', 0, 360, true);
  const trip = body['tripId'];
  if (trip !== undefined && (typeof trip !== 'string' || trip.length > MAX_TRIP_ID)) fail('tripId', `at most ${MAX_TRIP_ID} characters`);
  return header;
}

/** For tenant-defined message types: the common header, and every number finite. */
export function validateGeneric(body: TelemetryBody, limits: ValidationLimits): { deviceTimeMs: number; sequence: number } {
  const header = headerFields(body, limits);
  assertAllFinite(body, '');
  if (body['latitude'] !== undefined || body['longitude'] !== undefined) point(body, '');
  return header;
}

function assertAllFinite(value: unknown, path: string): void {
  if (typeof value === 'number' && !Number.isFinite(value)) fail(path || '(root)', 'must be a finite number');
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertAllFinite(v, path ? `${path}.${k}` : k);
  }
}

export const VALIDATORS: Readonly<Record<string, typeof validateGeneric>> = {
  'thingiq.telemetry.v1.SensorReading': validateSensorReading,
  'thingiq.telemetry.v1.VehicleLocation': validateVehicleLocation,
};
