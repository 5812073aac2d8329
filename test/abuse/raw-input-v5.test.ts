/**
 * The bad-input corpus for MQTT 5 clients (the 3.1.1 corpus is
 * raw-input.test.ts): each case is refused with its stable code, and a
 * client past its CONNACK is told why with the reason code of MQTT 5 (a
 * DISCONNECT, or a PUBACK that keeps the connection); a well-behaved device
 * keeps flowing and nothing of the attackers is stored.
 */
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt5 } from '../helpers/raw-mqtt5.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { goodDevice, goodDeviceFlows, rawPublish, refusalCounted, varint } from './abuse-helpers.ts';

const V5 = { protocolVersion: 5 } as const;
const gen = (p: mqttPacket.Packet) => mqttPacket.generate(p, V5);
const topicOf = (id: string) => `tenants/acme/devices/${id}/location`;
const payload = () => encode(VEHICLE, vehicle());
const pub = (topic: string, extra: Partial<mqttPacket.IPublishPacket> = {}) =>
  gen({ cmd: 'publish', topic, payload: payload(), qos: 1, messageId: 1, retain: false, dup: false, ...extra });

function connect5(clientId: string, keepalive = 60): Buffer {
  return gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive });
}

interface Case {
  readonly name: string;
  /** Complete a v5 CONNECT first (keepalive in seconds), or send the bytes on a fresh TLS connection. */
  readonly connect: false | number;
  readonly bytes: (id: string) => Buffer[];
  readonly code: ErrorCode;
  /** The DISCONNECT reason code the client is sent; undefined: closed without one. */
  readonly disconnect?: number;
  /** A PUBACK reason code instead, the connection kept. */
  readonly puback?: number;
  readonly gapMs?: number;
}

const CASES: Case[] = [
  { name: 'a second CONNECT', connect: 60, bytes: (id) => [connect5(id)], code: 'TIQ_ERR_PROTOCOL_VIOLATION', disconnect: 0x82 },
  { name: 'a server-only packet (CONNACK)', connect: 60, bytes: () => [Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])], code: 'TIQ_ERR_MALFORMED_PACKET', disconnect: 0x81 },
  { name: 'SUBSCRIBE with reserved flags 0000', connect: 60, bytes: () => [Buffer.from([0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00])], code: 'TIQ_ERR_MALFORMED_PACKET', disconnect: 0x81 },
  { name: 'PUBLISH with QoS 3', connect: 60, bytes: (id) => [rawPublish(Buffer.from(topicOf(id)), Buffer.concat([Buffer.from([0]), payload()]), 0x06)], code: 'TIQ_ERR_MALFORMED_PACKET', disconnect: 0x81 },
  { name: 'a remaining length of five bytes', connect: 60, bytes: () => [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])], code: 'TIQ_ERR_MALFORMED_PACKET', disconnect: 0x81 },
  { name: 'a PUBLISH announcing 64 MiB', connect: 60, bytes: () => [Buffer.concat([Buffer.from([0x32]), varint(64 * 1024 * 1024), Buffer.alloc(512)])], code: 'TIQ_ERR_PACKET_TOO_LARGE', disconnect: 0x95 },
  { name: 'a v5 CONNECT announcing 200 MB (no CONNACK yet: closed)', connect: false, bytes: () => [Buffer.concat([Buffer.from([0x10]), varint(200_000_000), Buffer.alloc(64)])], code: 'TIQ_ERR_PACKET_TOO_LARGE' },
  { name: 'an AUTH packet (no enhanced authentication offered)', connect: 60, bytes: () => [Buffer.from([0xf0, 0x02, 0x18, 0x00])], code: 'TIQ_ERR_PROTOCOL_VIOLATION', disconnect: 0x82 },
  { name: 'NUL in the topic', connect: 60, bytes: (id) => [pub(`${topicOf(id)}\u0000x`)], code: 'TIQ_ERR_MALFORMED_PACKET', disconnect: 0x81 },
  { name: 'topic alias 0', connect: 60, bytes: (id) => [pub(topicOf(id), { properties: { topicAlias: 0 } })], code: 'TIQ_ERR_PROTOCOL_VIOLATION', disconnect: 0x94 },
  { name: 'an unknown topic alias', connect: 60, bytes: () => [pub('', { properties: { topicAlias: 3 } })], code: 'TIQ_ERR_PROTOCOL_VIOLATION', disconnect: 0x94 },
  { name: 'subscription identifier 0', connect: 60, bytes: (id) => [gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topicOf(id), qos: 1 }], properties: { subscriptionIdentifier: 0 } })], code: 'TIQ_ERR_PROTOCOL_VIOLATION', disconnect: 0x82 },
  { name: 'QoS 2', connect: 60, bytes: (id) => [pub(topicOf(id), { qos: 2 })], code: 'TIQ_ERR_QOS_UNSUPPORTED', disconnect: 0x9b },
  { name: 'a 300-character topic', connect: 60, bytes: (id) => [pub(`${topicOf(id)}${'x'.repeat(300)}`)], code: 'TIQ_ERR_TOPIC_TOO_LONG', puback: 0x90 },
  { name: 'a PUBLISH sent byte by byte (slowloris)', connect: 1, bytes: (id) => [...pub(topicOf(id))].map((b) => Buffer.from([b])), gapMs: 400, code: 'TIQ_ERR_KEEPALIVE', disconnect: 0x8d },
];

describe('raw MQTT 5 bad-input corpus', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let good: MqttClient;
  const attackers: string[] = [];

  beforeAll(async () => {
    gw = await startGateway(pki, {
      mqtt: { connectTimeoutMs: 600, keepaliveLimitS: 60 },
      limits: { maxPacketBytes: 128 * 1024, tlsHandshakeTimeoutMs: 600, minKeepaliveS: 1 },
    });
    good = await goodDevice(gw.port, pki);
  });
  afterAll(async () => {
    good?.end(true);
    await gw?.gateway.close();
  });

  it.each(CASES)('$name: $code', async (c) => {
    const id = `atk5-${attackers.length}`;
    attackers.push(id);
    const before = await gw.gateway.stats.refusalCount(c.code);
    const raw = await RawMqtt5.open(gw.port, pki.device('acme', id));
    if (c.connect !== false) {
      raw.socket.write(connect5(id, c.connect));
      await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    }
    for (const b of c.bytes(id)) {
      if (raw.closed) break;
      raw.socket.write(b);
      if (c.gapMs) await new Promise((r) => setTimeout(r, c.gapMs));
    }
    if (c.puback !== undefined) {
      expect(await raw.waitFor(() => raw.pubacks().length > 0)).toBe(true);
      expect(raw.pubacks()[0]?.reasonCode).toBe(c.puback);
      expect(raw.closed).toBe(false);
      raw.end();
    } else {
      expect(await raw.waitFor(() => raw.closed, 6000)).toBe(true);
      expect(raw.disconnect()?.reasonCode).toBe(c.disconnect);
      expect(raw.pubacks()).toEqual([]);
    }
    expect(await refusalCounted(gw.gateway, c.code, before)).toBe(true);
    await goodDeviceFlows(good);
  });

  it('nothing of any attacker was stored, the good device\'s messages all were', async () => {
    const sink = gw.gateway.storage.sinkFor('acme');
    for (const id of attackers) expect([id, await sink.countRecords({ tenantId: 'acme', deviceId: id })]).toEqual([id, 0]);
    expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'good-1' })).toBe(CASES.length);
  });
});
