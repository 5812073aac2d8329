/** Building telemetry payloads the way devices do. */
import { TelemetryCodec } from '../../src/messages/codec.ts';

const codec = TelemetryCodec.load();
export const VEHICLE = 'thingiq.telemetry.v1.VehicleLocation';
export const SENSOR = 'thingiq.telemetry.v1.SensorReading';

let seq = 1;
export function vehicle(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { timeUnixMs: Date.now(), sequence: seq++, latitude: 48.858370, longitude: 2.294481, speedMps: 12.5, headingDeg: 90, ...fields };
}

export function sensor(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { timeUnixMs: Date.now(), sequence: seq++, measurements: [{ name: 'temperature', value: 21.5, unit: 'Cel' }], ...fields };
}

export function encode(type: string, body: Record<string, unknown>): Buffer {
  const t = codec.type(type);
  return Buffer.from(t.encode(t.fromObject(body)).finish());
}

export function decode(type: string, payload: Buffer): Record<string, unknown> {
  return codec.decode(type, payload, TelemetryCodec.sniff(payload));
}
