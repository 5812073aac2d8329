/**
 * Wills are messages like any other: checked at CONNECT as a publish of that
 * device would be (refused with CONNACK 5 and TIQ_ERR_WILL_DENIED), and when
 * the device drops off without DISCONNECT, put through the pipeline (privacy
 * policy, encryption, storage) before the tenant's apps receive them.
 * Real mqtt.js and mosquitto clients over mutual TLS, the real SQLite sink.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connect, sleep, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI (.ci/run installs them)');

const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };
const POLICY = { policyId: 'fleet', version: 2, defaults: { '*': { action: 'strip' }, location: { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } } };
const topicOf = (device: string, stream = 'location') => `tenants/acme/devices/${device}/${stream}`;

async function refusalCode(promise: Promise<MqttClient>): Promise<number | undefined> {
  try {
    (await promise).end(true);
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('wills', () => {
  const rig = useSubscriberRig({ app: { clientId: 'dash-wills' }, config: { tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, privacy: POLICY } } } });
  const { pki } = rig;
  const records = (deviceId: string) => rig.records(deviceId, 'location');

  it('a device that drops off without DISCONNECT has its will stored and delivered, policy-applied', async () => {
    const payload = encode(VEHICLE, vehicle({ ...EXACT, sequence: 900, tripId: 'last-words' }));
    const device = await rig.device('will-1', { will: { topic: topicOf('will-1'), payload, qos: 1, retain: false } });
    device.stream.destroy(); // the network goes away: no DISCONNECT
    await rig.sub.next(rig.sub.received.length + 1);
    const [will] = rig.received(topicOf('will-1'));
    expect(will).toBeDefined();
    const body = decode(VEHICLE, will!.payload);
    expect(body['tripId']).toBe('last-words');
    expect(body['latitude']).not.toBe(EXACT.latitude);
    expect(body['appliedPolicy']).toMatchObject({ policyId: 'fleet', locationAction: 'coarsen' });
    expect(await records('will-1')).toBe(1);
    expect(rig.gw.logs.events('will_delivered').some((l) => l['identity'] === 'device acme/will-1')).toBe(true);
    expect(rig.gw.logs.raw.join('\n')).not.toContain('48.8583701');
  });

  it('a clean DISCONNECT discards the will: nothing delivered, nothing stored', async () => {
    const payload = encode(VEHICLE, vehicle({ sequence: 901 }));
    const device = await connect(rig.gw.port, pki.device('acme', 'will-2'), { clientId: 'will-2', will: { topic: topicOf('will-2'), payload, qos: 1, retain: false } });
    await device.endAsync();
    await sleep(500);
    expect(rig.received(topicOf('will-2'))).toEqual([]);
    expect(await records('will-2')).toBe(0);
  });

  const bad: [string, (id: string) => { topic: string; payload: Buffer; qos: 0 | 1 | 2 }, string][] = [
    ['another device\'s topic', () => ({ topic: topicOf('truck-1'), payload: encode(VEHICLE, vehicle()), qos: 1 }), 'outside the device\'s own topics'],
    ['another tenant\'s topic', (id) => ({ topic: `tenants/globex/devices/${id}/location`, payload: encode(VEHICLE, vehicle()), qos: 1 }), 'outside the device\'s own topics'],
    ['a stream the tenant does not have', (id) => ({ topic: topicOf(id, 'nosuch'), payload: encode(VEHICLE, vehicle()), qos: 1 }), 'TIQ_ERR_STREAM_UNKNOWN'],
    ['the private-mode control topic', (id) => ({ topic: topicOf(id, 'control/private-mode'), payload: Buffer.from('on'), qos: 1 }), 'the control topic takes no will'],
    ['QoS 2', (id) => ({ topic: topicOf(id), payload: encode(VEHICLE, vehicle()), qos: 2 }), 'QoS 2 is not accepted'],
    ['an undecodable payload', (id) => ({ topic: topicOf(id), payload: Buffer.from([0xff, 0xff, 0xff, 0x0f]), qos: 1 }), 'TIQ_ERR_DECODE'],
    ['a latitude out of range', (id) => ({ topic: topicOf(id), payload: encode(VEHICLE, vehicle({ latitude: 91 })), qos: 1 }), 'TIQ_ERR_VALIDATION'],
    ['an over-size payload', (id) => ({ topic: topicOf(id), payload: Buffer.concat([encode(VEHICLE, vehicle()), Buffer.alloc(4096)]), qos: 1 }), 'TIQ_ERR_PAYLOAD_TOO_LARGE'],
  ];

  it.each(bad)('a will to %s refuses the CONNECT with CONNACK 5 and TIQ_ERR_WILL_DENIED', async (_name, will, reason) => {
    const id = `will-bad-${Math.random().toString(36).slice(2, 8)}`;
    const before = await rig.gw.gateway.stats.refusalCount('TIQ_ERR_WILL_DENIED');
    expect(await refusalCode(connect(rig.gw.port, pki.device('acme', id), { clientId: id, will: { ...will(id), retain: false } }))).toBe(5);
    expect(await rig.gw.gateway.stats.refusalCount('TIQ_ERR_WILL_DENIED')).toBe(before + 1);
    const line = rig.gw.logs.events('connect_refused').find((l) => l['identity'] === `device acme/${id}`);
    expect(line).toMatchObject({ code: 'TIQ_ERR_WILL_DENIED', detail: { reason } });
  });

  it('an application may not leave a will (it publishes nothing)', async () => {
    const will = { topic: 'tenants/acme/devices/x/location', payload: encode(VEHICLE, vehicle()), qos: 1 as const, retain: false };
    expect(await refusalCode(connect(rig.gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash-will', will }))).toBe(5);
    expect(rig.gw.logs.events('connect_refused').find((l) => l['identity'] === 'app acme/dashboard')).toMatchObject({ code: 'TIQ_ERR_WILL_DENIED' });
  });

  it('a will is withheld when the device\'s processing is restricted after it connected', async () => {
    const payload = encode(VEHICLE, vehicle({ sequence: 902 }));
    const device = await connect(rig.gw.port, pki.device('acme', 'will-3'), { clientId: 'will-3', will: { topic: topicOf('will-3'), payload, qos: 1, retain: false } });
    await rig.gw.gateway.admin!.restrictions.set('acme', 'will-3', 'drop', 'test');
    device.stream.destroy();
    await sleep(500);
    expect(rig.received(topicOf('will-3'))).toEqual([]);
    expect(await records('will-3')).toBe(0);
    expect(rig.gw.logs.events('will_withheld').find((l) => l['identity'] === 'device acme/will-3')).toMatchObject({ code: 'TIQ_ERR_RESTRICTED' });
  });

  describe.skipIf(!haveMosquitto)('with mosquitto_pub', () => {
    it('the will of a killed mosquitto_pub (proto3 JSON) is delivered', async () => {
      const pem = pki.device('acme', 'will-mosq');
      const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 903, latitude: 52.52, longitude: 13.405, tripId: 'mosq-will' });
      const child = spawn('mosquitto_pub', [...rig.mosquittoArgs(pem, 'will-mosq'), '-q', '1', '-t', topicOf('will-mosq', 'sensor'), '-l',
        '--will-topic', topicOf('will-mosq'), '--will-payload', json, '--will-qos', '1']);
      // One message through the live connection first: then the will is in place.
      const n = rig.sub.received.length;
      child.stdin.write(`${JSON.stringify({ timeUnixMs: Date.now(), sequence: 904, measurements: [{ name: 't', value: 20 }] })}\n`);
      await rig.sub.next(n + 1, 10_000);
      child.kill('SIGKILL');
      await rig.sub.next(n + 2, 10_000);
      const [will] = rig.received(topicOf('will-mosq'));
      expect(will).toBeDefined();
      expect(JSON.parse(will!.payload.toString())).toMatchObject({ tripId: 'mosq-will', appliedPolicy: { policyId: 'fleet' } });
      expect(await records('will-mosq')).toBe(1);
    });
  });
});

describe('wills at gateway shutdown', () => {
  it('are withheld: the device did not go away, the gateway did', async () => {
    const pki = new TestPki();
    const gw = await startGateway(pki);
    const device = await connect(gw.port, pki.device('acme', 'will-4'), {
      clientId: 'will-4', will: { topic: topicOf('will-4'), payload: encode(VEHICLE, vehicle()), qos: 1, retain: false },
    });
    await gw.gateway.close();
    device.end(true);
    expect(gw.logs.events('will_delivered')).toEqual([]);
    expect(gw.logs.events('will_withheld').find((l) => l['identity'] === 'device acme/will-4')).toMatchObject({ code: 'TIQ_ERR_SHUTTING_DOWN' });
  });
});
