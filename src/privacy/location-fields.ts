/**
 * Where location lives in a decoded body (protobuf.js plain objects,
 * lowerCamelCase): flat on VehicleLocation (latitude, longitude, altitudeM,
 * speedMps, headingDeg, accuracyM) and in the `location` GeoPoint of
 * SensorReading and of tenant streams built like it. Both layouts are always
 * handled, so a stream type the engine has not seen cannot smuggle location.
 */
import type { TelemetryBody } from '../records/message.ts';
import type { LatLon } from './geo/sphere.ts';
import type { FieldRule, LeakingField } from '../config/rule-config.ts';

/** Leaking field → property names, flat and inside the GeoPoint. */
const FLAT_PROPS: Record<LeakingField, string> = { speed: 'speedMps', heading: 'headingDeg', altitude: 'altitudeM', accuracy: 'accuracyM' };
const NESTED_PROPS: Partial<Record<LeakingField, string>> = { altitude: 'altitudeM', accuracy: 'accuracyM' };
const ALL_FLAT = ['latitude', 'longitude', 'speedMps', 'headingDeg', 'altitudeM', 'accuracyM'] as const;

/** A compiled field rule: 0 keep, 1 strip, else round to `step`. */
export interface FieldOp {
  readonly field: LeakingField;
  readonly strip: boolean;
  readonly step: number; // 0 = keep as is
  readonly decimals: number; // decimals of step, to print no more digits than it has
}

export function compileFieldOp(field: LeakingField, rule: FieldRule): FieldOp {
  if (rule === 'keep') return { field, strip: false, step: 0, decimals: 0 };
  if (rule === 'strip') return { field, strip: true, step: 0, decimals: 0 };
  const text = String(rule.round);
  const decimals = text.includes('e-') ? Number(text.split('e-')[1]) : (text.split('.')[1]?.length ?? 0);
  return { field, strip: false, step: rule.round, decimals: Math.min(decimals, 15) };
}

export function roundToStep(v: number, op: FieldOp): number {
  const snapped = Math.round(v / op.step) * op.step;
  const scale = 10 ** op.decimals;
  const clean = Math.round(snapped * scale) / scale + 0; // no −0: its sign is a bit of the input
  return op.field === 'heading' ? clean % 360 : clean;
}

function applyOp(target: Record<string, unknown>, prop: string, op: FieldOp): void {
  if (!(prop in target)) return;
  if (op.strip) { delete target[prop]; return; }
  const v = target[prop];
  if (op.step > 0 && typeof v === 'number') target[prop] = roundToStep(v, op);
}

/** The GeoPoint sub-object, when the body has one. */
export function nestedLocation(body: TelemetryBody): Record<string, unknown> | undefined {
  const loc = body.location;
  return loc !== null && typeof loc === 'object' ? (loc as Record<string, unknown>) : undefined;
}

export function hasFlatLocation(body: TelemetryBody): boolean {
  return 'latitude' in body || 'longitude' in body;
}

/** Reads a lat/lon pair into `out`; false when either is missing or not a number. */
export function readLatLon(target: Record<string, unknown>, out: LatLon): boolean {
  const lat = target.latitude, lon = target.longitude;
  if (typeof lat !== 'number' || typeof lon !== 'number') return false;
  out.lat = lat;
  out.lon = lon;
  return true;
}

export function writeLatLon(target: Record<string, unknown>, p: LatLon): void {
  target.latitude = p.lat;
  target.longitude = p.lon;
}

export function applyFieldOps(body: TelemetryBody, ops: readonly FieldOp[]): void {
  const nested = nestedLocation(body);
  for (const op of ops) {
    applyOp(body, FLAT_PROPS[op.field], op);
    const nestedProp = NESTED_PROPS[op.field];
    if (nested && nestedProp) applyOp(nested, nestedProp, op);
  }
}

/** Deletes location and every leaking field, flat and nested: no key is left behind. */
export function stripLocation(body: TelemetryBody): void {
  for (const prop of ALL_FLAT) delete body[prop];
  delete body.location;
}

/** Deletes the flat position pair only (a partial pair is never forwarded). */
export function stripFlatPosition(body: TelemetryBody): void {
  delete body.latitude;
  delete body.longitude;
}
