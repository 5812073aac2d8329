/**
 * The MQTT behaviour the README and docs/SECURITY.md promise, through real
 * clients: SUBACK never grants QoS 2; a publish to a stream the tenant does
 * not have closes the connection with TIQ_ERR_STREAM_UNKNOWN; an over-size or
 * undecodable payload is acknowledged (MQTT 3.1.1 has no negative PUBACK, and
 * a resend would fail again), neither stored nor forwarded, and the
 * connection stays until repeated refusals close it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { closedWithin } from '../helpers/gateway.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI (.ci/run installs them)');

const topicOf = (device: string, stream = 'location') => `tenants/acme/devices/${device}/${stream}`;

/** Publishes QoS 1; resolves 'acknowledged' on PUBACK, 'closed' if the connection closes first. */
function publishQos1(client: MqttClient, topic: string, payload: Buffer): Promise<'acknowledged' | 'closed'> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('closed'));
    client.publish(topic, payload, { qos: 1 }, (err) => { if (!err) resolve('acknowledged'); });
  });
}

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string }> {
  const child = spawn(cmd, args);
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout })));
}

describe('MQTT semantics', () => {
  const rig = useSubscriberRig({ app: { clientId: 'dash-semantics' } });
  const { pki } = rig;

  describe('SUBACK never grants QoS 2', () => {
    it('mqtt.js asking QoS 2 is granted QoS 1, and messages arrive at QoS 1', async () => {
      const app = await rig.connect(pki.app('acme', 'dashboard'), { clientId: 'dash-qos2' });
      const granted = await app.subscribeAsync({ 'tenants/acme/devices/qos-1/location': { qos: 2 }, 'tenants/acme/devices/+/sensor': { qos: 0 } });
      expect(granted.map((g) => g.qos)).toEqual([1, 0]);
      const arrived = new Promise<number>((resolve) => app.on('packetreceive', (p) => { if (p.cmd === 'publish') resolve(p.qos); }));
      await (await rig.device('qos-1')).publishAsync(topicOf('qos-1'), encode(VEHICLE, vehicle()), { qos: 1 });
      expect(await arrived).toBe(1);
    });

    it('in one SUBSCRIBE, a refused filter still gets 0x80 beside the lowered grant', async () => {
      const app = await rig.connect(pki.app('acme', 'dashboard'), { clientId: 'dash-mixed' });
      let granted: number[] = [];
      app.on('packetreceive', (p) => { if (p.cmd === 'suback') granted = p.granted as number[]; });
      await app.subscribeAsync({ 'tenants/acme/#': { qos: 2 }, 'tenants/globex/#': { qos: 2 } }).catch(() => undefined);
      expect(granted).toEqual([1, 0x80]);
    });

    it.skipIf(!haveMosquitto)('mosquitto_sub -q 2 is granted QoS 1', async () => {
      const r = await run('mosquitto_sub', [...rig.mosquittoArgs(pki.app('acme', 'dashboard'), 'dash-mosq-qos2'), '-q', '2', '-t', 'tenants/acme/#', '-d', '-C', '1', '-W', '2']);
      expect(r.stdout).toMatch(/Subscribed \(mid: \d+\): 1\b/);
    });
  });

  describe('a publish to a stream the tenant does not have', () => {
    it('closes the connection without PUBACK, with TIQ_ERR_STREAM_UNKNOWN', async () => {
      const c = await rig.device('stream-1');
      const before = await rig.gw.gateway.stats.refusalCount('TIQ_ERR_STREAM_UNKNOWN');
      expect(await publishQos1(c, topicOf('stream-1', 'diagnostics'), encode(VEHICLE, vehicle()))).toBe('closed');
      expect(await rig.gw.gateway.stats.refusalCount('TIQ_ERR_STREAM_UNKNOWN')).toBe(before + 1);
      expect(rig.gw.logs.events('publish_refused').find((l) => l['identity'] === 'device acme/stream-1'))
        .toMatchObject({ code: 'TIQ_ERR_STREAM_UNKNOWN', detail: { stream: 'diagnostics' }, disconnect: true });
      expect(rig.sub.received.filter((m) => m.topic.includes('stream-1'))).toEqual([]);
    });

    it('a topic deeper than a stream is outside the device\'s topics (TIQ_ERR_TOPIC_DENIED), not an unknown stream', async () => {
      const c = await rig.device('stream-2');
      expect(await publishQos1(c, `${topicOf('stream-2')}/extra`, encode(VEHICLE, vehicle()))).toBe('closed');
      expect(rig.gw.logs.events('publish_refused').find((l) => l['identity'] === 'device acme/stream-2')).toMatchObject({ code: 'TIQ_ERR_TOPIC_DENIED' });
    });

    it.skipIf(!haveMosquitto)('mosquitto_pub -q 1 to an unknown stream fails', async () => {
      const pem = pki.device('acme', 'stream-3');
      const r = await run('mosquitto_pub', [...rig.mosquittoArgs(pem, 'stream-3'), '-q', '1', '-t', topicOf('stream-3', 'nosuch'), '-m', '{}']);
      expect(r.status).not.toBe(0);
      expect(rig.gw.logs.events('publish_refused').find((l) => l['identity'] === 'device acme/stream-3')).toMatchObject({ code: 'TIQ_ERR_STREAM_UNKNOWN' });
    });
  });

  describe('an over-size or undecodable payload', () => {
    it.each([
      ['over-size', 'TIQ_ERR_PAYLOAD_TOO_LARGE', () => Buffer.concat([encode(VEHICLE, vehicle()), Buffer.alloc(4096, 1)])],
      ['undecodable', 'TIQ_ERR_DECODE', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
      ['out-of-range', 'TIQ_ERR_VALIDATION', () => encode(VEHICLE, vehicle({ latitude: 91 }))],
    ])('an %s payload is acknowledged, neither stored nor forwarded, and the connection serves the next message', async (name, code, payload) => {
      const id = `poison-${name}`;
      const c = await rig.device(id);
      const before = await rig.gw.gateway.stats.refusalCount(code as never);
      expect(await publishQos1(c, topicOf(id), payload())).toBe('acknowledged');
      expect(await closedWithin(c, 300)).toBe(false);
      const n = rig.sub.received.length;
      expect(await publishQos1(c, topicOf(id), encode(VEHICLE, vehicle()))).toBe('acknowledged');
      await rig.sub.next(n + 1);
      expect(rig.received(topicOf(id))).toHaveLength(1);
      expect(await rig.records(id)).toBe(1);
      expect(await rig.gw.gateway.stats.refusalCount(code as never)).toBe(before + 1);
      expect(rig.gw.logs.events('publish_refused').find((l) => l['identity'] === `device acme/${id}`)).toMatchObject({ code, disconnect: false });
    });

    it('the third refusal on a connection closes it (mqtt.maxRefusalsBeforeDisconnect)', async () => {
      const c = await rig.device('poison-repeat');
      expect(await publishQos1(c, topicOf('poison-repeat'), Buffer.from([0xff]))).toBe('acknowledged');
      expect(await publishQos1(c, topicOf('poison-repeat'), Buffer.from([0xff]))).toBe('acknowledged');
      expect(await publishQos1(c, topicOf('poison-repeat'), Buffer.from([0xff]))).toBe('closed');
      expect(await rig.records('poison-repeat')).toBe(0);
    });

    it.skipIf(!haveMosquitto)('mosquitto_pub -q 1 of an undecodable payload gets its PUBACK', async () => {
      const pem = pki.device('acme', 'poison-mosq');
      const r = await run('mosquitto_pub', [...rig.mosquittoArgs(pem, 'poison-mosq'), '-q', '1', '-t', topicOf('poison-mosq'), '-m', '{"latitude": 1,']);
      expect(r.status).toBe(0);
      expect(await rig.records('poison-mosq')).toBe(0);
      expect(rig.gw.logs.events('publish_refused').find((l) => l['identity'] === 'device acme/poison-mosq')).toMatchObject({ code: 'TIQ_ERR_DECODE' });
    });
  });
});
