/**
 * The bad-input corpus for MQTT 5 clients (the 3.1.1 corpus is
 * raw-input.test.ts): each case is refused with its stable code, and a
 * client past its CONNACK is told why with the reason code of MQTT 5 (a
 * DISCONNECT, or a PUBACK that keeps the connection); a well-behaved device
 * keeps flowing and nothing of the attackers is stored.
 */
import type mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { generate } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { attack, closedWithin, connectPacket, CorpusGateway, type CorpusCase, goodDeviceFlows, rawPublish, refusalCounted, varint } from './abuse-helpers.ts';

const gen = (p: mqttPacket.Packet) => generate(p, 5);
const topicOf = (id: string) => `tenants/acme/devices/${id}/location`;
const payload = () => encode(VEHICLE, vehicle());
const pub = (topic: string, extra: Partial<mqttPacket.IPublishPacket> = {}) =>
  gen({ cmd: 'publish', topic, payload: payload(), qos: 1, messageId: 1, retain: false, dup: false, ...extra });
const connect5 = (clientId: string) => connectPacket(clientId, 60, 5);

/** A case of the corpus (its CONNECT is a v5 one) and the MQTT 5 answer it must get. */
interface Case extends CorpusCase {
  /** The DISCONNECT reason code the client is sent; undefined: closed without one. */
  readonly disconnect?: number;
  /** A PUBACK reason code instead, the connection kept. */
  readonly puback?: number;
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
  const corpus = CorpusGateway.hooked('atk5');

  it.each(CASES)('$name: $code', async (c) => {
    const { gw, pki, good } = corpus;
    const id = corpus.nextAttacker();
    const before = await gw.gateway.stats.refusalCount(c.code);
    const raw = await attack(gw.port, pki.device('acme', id), id, { version: 5, connect: c.connect, bytes: c.bytes(id), gapMs: c.gapMs });
    if (c.puback !== undefined) {
      expect(await raw.waitFor(() => raw.pubacks().length > 0)).toBe(true);
      expect(raw.pubacks()[0]?.reasonCode).toBe(c.puback);
      expect(raw.closed).toBe(false);
      raw.end();
    } else {
      expect(await closedWithin(raw, 6000)).toBe(true);
      expect(raw.disconnect()?.reasonCode).toBe(c.disconnect);
      expect(raw.pubacks()).toEqual([]);
    }
    expect(await refusalCounted(gw.gateway, c.code, before)).toBe(true);
    await goodDeviceFlows(good);
  });

  it('nothing of any attacker was stored, the good device\'s messages all were', async () => {
    const stored = await corpus.storedCounts();
    for (const [id, n] of stored.attackers) expect([id, n]).toEqual([id, 0]);
    expect(stored.good).toBe(CASES.length);
  });
});
