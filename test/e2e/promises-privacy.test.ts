/**
 * The README's privacy promises to application developers, tried as a
 * device maker who wants an exact position to reach an app anyway: a forged
 * `appliedPolicy`, a position on the sensor stream whose rule keeps it, a
 * retained message, a will, refusals whose logs might echo the coordinates.
 * Real mutual TLS, mqtt.js clients, the gateway on port 0.
 */
import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, subscribe, TEST_TENANTS } from '../helpers/gateway.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { decode, encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

// Digits an app or a log must never see: the exact position, to 7 decimals.
const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };
const HOME = { latitude: 52.5000417, longitude: 13.3050293 };
const DEPOT = { latitude: 52.5200391, longitude: 13.4050187 };
const SECRETS = ['48.8583701', '2.2944813', '52.5000417', '13.3050293', '52.5200391', '13.4050187', '48.85837', '2.29448'];

const PRIVACY = {
  policyId: 'audit', version: 1,
  defaults: {
    '*': { action: 'strip' },
    sensor: { action: 'keep' },
    location: { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } },
  },
  zones: [
    { name: 'home', shape: 'circle', center: { lat: HOME.latitude, lon: HOME.longitude }, radiusM: 300, action: 'drop' },
    { name: 'depot', shape: 'circle', center: { lat: DEPOT.latitude, lon: DEPOT.longitude }, radiusM: 300, action: 'strip' },
  ],
  privateMode: { action: 'strip' },
};

describe('privacy promises to application developers, tried by a hostile device', () => {
  const rig = useSubscriberRig({ config: { tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, privacy: PRIVACY } } } });
  const { pki } = rig;

  /** Publishes at QoS 1 (resolves on PUBACK) and returns what the app received for it within a short wait. */
  async function publish(c: MqttClient, topic: string, payload: Buffer | string, retain = false): Promise<Buffer | undefined> {
    const n = rig.sub.received.length;
    await c.publishAsync(topic, payload, { qos: 1, retain });
    await rig.sub.next(n + 1, 1000);
    return rig.sub.received[n]?.payload;
  }

  it('a forged appliedPolicy in the body (JSON or protobuf) is replaced by the gateway\'s, and the position is still coarsened', async () => {
    const dev = await rig.device('forger-1');
    const forged = { policyId: 'none', version: 0, locationAction: 'keep' };
    const json = JSON.stringify({ ...vehicle(EXACT), appliedPolicy: forged });
    const binary = encode(VEHICLE, vehicle({ ...EXACT, appliedPolicy: forged }));
    for (const payload of [json, binary]) {
      const got = await publish(dev, 'tenants/acme/devices/forger-1/location', payload);
      expect(got).toBeDefined();
      const body = decode(VEHICLE, got!);
      expect(body['appliedPolicy']).toEqual({ policyId: 'audit', version: 1, locationAction: 'coarsen' });
      expect(body['latitude']).not.toBe(EXACT.latitude);
      expect(Math.abs((body['latitude'] as number) - EXACT.latitude)).toBeLessThan(0.02);
    }
  });

  it('a drop zone holds on the sensor stream too, whose rule keeps location: acknowledged, neither forwarded nor stored', async () => {
    const dev = await rig.device('sensor-1');
    const dropped = await rig.gw.gateway.stats.messageCount('sensor', 'dropped');
    const stored = await rig.gw.gateway.stats.messageCount('sensor', 'stored');
    const got = await publish(dev, 'tenants/acme/devices/sensor-1/sensor', encode(SENSOR, sensor({ location: HOME })));
    expect(got).toBeUndefined();
    expect(await rig.gw.gateway.stats.messageCount('sensor', 'dropped')).toBe(dropped + 1);
    expect(await rig.gw.gateway.stats.messageCount('sensor', 'stored')).toBe(stored);
    // Outside every zone the sensor rule keeps the position, so the zone, not the rule, dropped it.
    const kept = await publish(dev, 'tenants/acme/devices/sensor-1/sensor', encode(SENSOR, sensor({ location: { latitude: 40.1, longitude: -3.7 } })));
    expect(decode(SENSOR, kept!)['location']).toMatchObject({ latitude: 40.1, longitude: -3.7 });
  });

  it('a strip zone removes the sensor stream\'s location and keeps its measurements', async () => {
    const dev = await rig.device('sensor-2');
    const got = await publish(dev, 'tenants/acme/devices/sensor-2/sensor', encode(SENSOR, sensor({ location: { ...DEPOT, altitudeM: 34.5, accuracyM: 4 } })));
    const body = decode(SENSOR, got!);
    expect(body).not.toHaveProperty('location');
    expect(body['measurements']).toEqual([{ name: 'temperature', value: 21.5, unit: 'Cel' }]);
    expect(body['appliedPolicy']).toMatchObject({ locationAction: 'strip' });
  });

  it('private mode switched on by the message field strips the sensor stream\'s location as well', async () => {
    const dev = await rig.device('sensor-3');
    const got = await publish(dev, 'tenants/acme/devices/sensor-3/sensor', encode(SENSOR, sensor({ location: EXACT, privateMode: true })));
    expect(decode(SENSOR, got!)).not.toHaveProperty('location');
  });

  it('a retained exact position reaches a later subscriber coarsened, and a poison retained publish does not displace it', async () => {
    const dev = await rig.device('retainer-1');
    const topic = 'tenants/acme/devices/retainer-1/location';
    await publish(dev, topic, encode(VEHICLE, vehicle(EXACT)), true);
    // Poison (longitude out of range) with the retain flag: acknowledged, discarded, nothing retained.
    await dev.publishAsync(topic, encode(VEHICLE, vehicle({ latitude: EXACT.latitude, longitude: 200 })), { qos: 1, retain: true });
    const late = await rig.connect(pki.app('acme', 'dashboard'), { clientId: 'late' });
    const retained = await subscribe(late, topic);
    const [first] = await retained.next(1, 1500);
    await sleep(200);
    expect(retained.received).toHaveLength(1);
    const body = decode(VEHICLE, first!.payload);
    expect(body['latitude']).not.toBe(EXACT.latitude);
    expect(body['appliedPolicy']).toMatchObject({ policyId: 'audit', locationAction: 'coarsen' });
  });

  it('a will with the exact position reaches the app coarsened', async () => {
    const willPayload = encode(VEHICLE, vehicle(EXACT));
    const dev = await rig.device('willer-1', { will: { topic: 'tenants/acme/devices/willer-1/location', payload: willPayload, qos: 1, retain: false } });
    const n = rig.sub.received.length;
    dev.stream.destroy(); // no DISCONNECT: the will is due
    await rig.sub.next(n + 1, 3000);
    const got = rig.sub.received.slice(n).find((m) => m.topic === 'tenants/acme/devices/willer-1/location');
    expect(got).toBeDefined();
    const body = decode(VEHICLE, got!.payload);
    expect(body['latitude']).not.toBe(EXACT.latitude);
    expect(body['appliedPolicy']).toMatchObject({ locationAction: 'coarsen' });
  });

  it('refusals of payloads full of exact coordinates log codes and field names, never the coordinates', async () => {
    const dev = await rig.device('leaker-1');
    const topic = 'tenants/acme/devices/leaker-1/location';
    const refused = rig.gw.logs.events('publish_refused').length;
    // Out of range next to an exact latitude; an unknown JSON field carrying the exact longitude.
    await dev.publishAsync(topic, encode(VEHICLE, vehicle({ latitude: EXACT.latitude, longitude: 181.2944813 })), { qos: 1 });
    await dev.publishAsync(topic, JSON.stringify({ ...vehicle(EXACT), lon: EXACT.longitude }), { qos: 1 });
    const refusals = rig.gw.logs.events('publish_refused').slice(refused);
    expect(refusals.map((l) => l['code'])).toEqual(['TIQ_ERR_VALIDATION', 'TIQ_ERR_DECODE']);
    // A refused will (out of range) is logged at CONNECT without its payload.
    const badWill = encode(VEHICLE, vehicle({ latitude: 91.8583701, longitude: EXACT.longitude }));
    await expect(connect(rig.gw.port, pki.device('acme', 'leaker-2'), { clientId: 'leaker-2', will: { topic: 'tenants/acme/devices/leaker-2/location', payload: badWill, qos: 1, retain: false } }))
      .rejects.toMatchObject({ code: 5 });
    expect(rig.gw.logs.events('connect_refused').some((l) => l['code'] === 'TIQ_ERR_WILL_DENIED')).toBe(true);
    await sleep(100);
    const text = rig.gw.logs.raw.join('\n');
    for (const s of [...SECRETS, '181.29448', '91.85837']) expect(text).not.toContain(s);
  });

  it('nothing the app received in all of this carries an exact position', () => {
    for (const m of rig.sub.received) {
      if (!m.topic.includes('/devices/')) continue;
      const type = m.topic.endsWith('/sensor') ? SENSOR : VEHICLE;
      const body = decode(type, m.payload);
      const flat = JSON.stringify(body);
      for (const s of SECRETS) expect(flat).not.toContain(s);
    }
  });
});
