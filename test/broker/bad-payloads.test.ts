/**
 * Bad payloads are refused with their stable codes, nothing of them is
 * forwarded, and a well-behaved device on the same gateway keeps flowing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep } from '../helpers/gateway.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const good = () => encode(VEHICLE, vehicle());
const CASES: [string, string, () => Buffer, string][] = [
  ['truncated protobuf', 'location', () => good().subarray(0, 12), 'TIQ_ERR_DECODE'],
  ['garbage bytes', 'location', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 'TIQ_ERR_DECODE'],
  ['a SensorReading on the location stream', 'location', () => encode(SENSOR, sensor()), 'TIQ_ERR_DECODE'],
  ['NaN latitude', 'location', () => encode(VEHICLE, vehicle({ latitude: NaN })), 'TIQ_ERR_VALIDATION'],
  ['infinite speed', 'location', () => encode(VEHICLE, vehicle({ speedMps: Infinity })), 'TIQ_ERR_VALIDATION'],
  ['latitude 91', 'location', () => encode(VEHICLE, vehicle({ latitude: 91 })), 'TIQ_ERR_VALIDATION'],
  ['longitude -180.5', 'location', () => encode(VEHICLE, vehicle({ longitude: -180.5 })), 'TIQ_ERR_VALIDATION'],
  ['latitude without longitude', 'location', () => encode(VEHICLE, { timeUnixMs: Date.now(), sequence: 5, latitude: 10 }), 'TIQ_ERR_VALIDATION'],
  ['a timestamp ten years ahead', 'location', () => encode(VEHICLE, vehicle({ timeUnixMs: Date.now() + 3650 * 86400_000 })), 'TIQ_ERR_VALIDATION'],
  ['no sequence number', 'location', () => encode(VEHICLE, vehicle({ sequence: 0 })), 'TIQ_ERR_VALIDATION'],
  ['NaN measurement', 'sensor', () => encode(SENSOR, sensor({ measurements: [{ name: 't', value: NaN }] })), 'TIQ_ERR_VALIDATION'],
  ['oversize payload', 'location', () => Buffer.concat([good(), Buffer.alloc(2048)]), 'TIQ_ERR_PAYLOAD_TOO_LARGE'],
  ['invalid JSON', 'location', () => Buffer.from('{"latitude": 1,'), 'TIQ_ERR_DECODE'],
  ['JSON with an unknown field', 'location', () => Buffer.from(JSON.stringify({ ...vehicle(), exactPosition: 'x' })), 'TIQ_ERR_DECODE'],
  ['JSON with a string for a double', 'location', () => Buffer.from(JSON.stringify({ ...vehicle(), latitude: '48.1' })), 'TIQ_ERR_DECODE'],
];

describe('bad payloads', () => {
  const rig = useSubscriberRig();
  const { pki } = rig;
  let goodDevice: MqttClient;

  beforeAll(async () => {
    goodDevice = await rig.device('good-1');
  });

  it.each(CASES)('%s is refused with its code; the good device keeps flowing', async (_name, stream, payload, code) => {
    const id = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const bad = await rig.device(id);
    const before = await rig.gw.gateway.stats.refusalCount(code as never);
    const received = rig.sub.received.length;
    await bad.publishAsync(`tenants/acme/devices/${id}/${stream}`, payload(), { qos: 1 });
    await goodDevice.publishAsync('tenants/acme/devices/good-1/location', good(), { qos: 1 });
    await rig.sub.next(received + 1);
    await sleep(100);
    expect(await rig.gw.gateway.stats.refusalCount(code as never)).toBe(before + 1);
    expect(rig.sub.received.slice(received).map((m) => m.topic)).toEqual(['tenants/acme/devices/good-1/location']);
  });

  it('refusal logs carry the code and never the payload or coordinates', () => {
    const refusals = rig.gw.logs.events('publish_refused');
    expect(refusals.length).toBeGreaterThanOrEqual(CASES.length);
    const text = rig.gw.logs.raw.join('\n');
    expect(text).not.toContain('48.85837');
    expect(text).not.toContain('2.294481');
    expect(text).not.toContain('exactPosition":"x');
  });

  it('repeated bad input disconnects the device', async () => {
    const bad = await connect(rig.gw.port, pki.device('acme', 'repeat-offender'), { clientId: 'repeat-offender' });
    const closed = new Promise<boolean>((r) => { bad.once('close', () => r(true)); setTimeout(() => r(false), 5000); });
    for (let i = 0; i < 3; i++) bad.publish('tenants/acme/devices/repeat-offender/location', Buffer.from([0xff]), { qos: 1 });
    expect(await closed).toBe(true);
  });
});
