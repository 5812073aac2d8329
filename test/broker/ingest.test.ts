import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { decode, encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('ingest over mutual TLS with mqtt.js', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  let app: MqttClient;

  beforeAll(async () => {
    gw = await startGateway(pki);
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
  });
  afterAll(async () => {
    device?.end(true);
    app?.end(true);
    await gw?.gateway.close();
  });

  it('delivers a protobuf VehicleLocation to the tenant app, re-encoded with the applied policy', async () => {
    const sub = await subscribe(app, 'tenants/acme/devices/+/location');
    expect(sub.granted).toBe(1);
    const body = vehicle({ tripId: 'trip-7' });
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, body), { qos: 1 });
    const [msg] = await sub.next(1);
    expect(msg?.topic).toBe('tenants/acme/devices/truck-1/location');
    const got = decode(VEHICLE, msg!.payload);
    expect(got['sequence']).toBe(body['sequence']);
    expect(got['tripId']).toBe('trip-7');
    expect(got['appliedPolicy']).toMatchObject({ policyId: expect.any(String) });
  });

  it('accepts the proto3 JSON mapping (snake_case and camelCase, 64-bit as strings) and forwards JSON', async () => {
    const sub = await subscribe(app, 'tenants/acme/devices/truck-1/sensor');
    const now = Date.now();
    const json = { time_unix_ms: String(now), sequence: '42', measurements: [{ name: 'temperature', value: 3.5, unit: 'Cel' }] };
    await device.publishAsync('tenants/acme/devices/truck-1/sensor', JSON.stringify(json), { qos: 1 });
    const [msg] = await sub.next(1);
    const got = JSON.parse(msg!.payload.toString()) as Record<string, unknown>;
    expect(got['timeUnixMs']).toBe(String(now));
    expect(got['sequence']).toBe('42');
    expect(got['measurements']).toEqual([{ name: 'temperature', value: 3.5, unit: 'Cel' }]);
    expect(got['appliedPolicy']).toBeDefined();
  });

  it('never forwards fields the gateway does not understand', async () => {
    const sub = await subscribe(app, 'tenants/acme/devices/truck-1/sensor');
    const known = encode(SENSOR, sensor());
    // field 99, length-delimited: an unknown field a device might use to smuggle data
    const unknown = Buffer.concat([known, Buffer.from([0x9a, 0x06, 0x03, 0x61, 0x62, 0x63])]);
    await device.publishAsync('tenants/acme/devices/truck-1/sensor', unknown, { qos: 1 });
    const [msg] = await sub.next(1);
    expect(msg!.payload.includes(Buffer.from([0x9a, 0x06]))).toBe(false);
  });
});
