/**
 * Bad-input corpus over raw sockets (issue 7): each case is refused with
 * its stable code and closes the attacker's connection; a well-behaved
 * device on the same gateway keeps flowing; nothing of the attacker is
 * stored. Add a row for every bug found (fuzz crashes included).
 */
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { publishPacket } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { attack, closedWithin, connectPacket, CorpusGateway, type CorpusCase, goodDeviceFlows, halfOpenTls, rawPublish, refusalCounted, varint } from './abuse-helpers.ts';

const gen = (p: mqttPacket.Packet) => mqttPacket.generate(p);
const topicOf = (id: string, stream = 'location') => `tenants/acme/devices/${id}/${stream}`;
const payload = () => encode(VEHICLE, vehicle());

function badUtf8ClientId(): Buffer {
  const b = connectPacket('abcd');
  const at = b.indexOf('abcd');
  b.set([0x61, 0xff, 0xfe, 0x62], at);
  return b;
}

interface Case extends CorpusCase {
  readonly closeWithinMs?: number;
}

const CASES: Case[] = [
  { name: 'PUBLISH before CONNECT', connect: false, bytes: (id) => [gen(publishPacket(topicOf(id), payload(), 1))], code: 'TIQ_ERR_PROTOCOL_VIOLATION' },
  { name: 'a second CONNECT', connect: 60, bytes: (id) => [connectPacket(id)], code: 'TIQ_ERR_PROTOCOL_VIOLATION' },
  { name: 'reserved packet type 0', connect: false, bytes: () => [Buffer.from([0x00, 0x00])], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'a server-only packet (CONNACK) from the client', connect: 60, bytes: () => [Buffer.from([0x20, 0x02, 0x00, 0x00])], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'SUBSCRIBE with reserved flags 0000', connect: 60, bytes: () => [Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00])], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'PUBLISH with QoS 3', connect: 60, bytes: (id) => [rawPublish(Buffer.from(topicOf(id)), payload(), 0x06)], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'a remaining length of five bytes', connect: 60, bytes: () => [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'a PUBLISH announcing 64 MiB', connect: 60, bytes: () => [Buffer.concat([Buffer.from([0x32]), varint(64 * 1024 * 1024), Buffer.alloc(512)])], code: 'TIQ_ERR_PACKET_TOO_LARGE' },
  { name: 'a CONNECT announcing 200 MB', connect: false, bytes: () => [Buffer.concat([Buffer.from([0x10]), varint(200_000_000), Buffer.alloc(64)])], code: 'TIQ_ERR_PACKET_TOO_LARGE' },
  { name: 'a truncated CONNECT (length lies)', connect: false, bytes: () => [Buffer.concat([Buffer.from([0x10]), varint(100), Buffer.alloc(10)])], code: 'TIQ_ERR_CONNECT_TIMEOUT' },
  { name: 'a truncated PUBLISH (length lies) after CONNECT', connect: 1, bytes: () => [Buffer.concat([Buffer.from([0x32]), varint(1000), Buffer.alloc(10)])], code: 'TIQ_ERR_KEEPALIVE', closeWithinMs: 4000 },
  { name: 'NUL in the client id', connect: false, bytes: () => [connectPacket('dev\u0000ice')], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'invalid UTF-8 in the client id', connect: false, bytes: () => [badUtf8ClientId()], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'invalid UTF-8 in the topic', connect: 60, bytes: (id) => [rawPublish(Buffer.concat([Buffer.from(`tenants/acme/devices/${id}/`), Buffer.from([0xc3, 0x28])]), payload())], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'NUL in the topic', connect: 60, bytes: (id) => [rawPublish(Buffer.from(`${topicOf(id)}\u0000x`), payload())], code: 'TIQ_ERR_MALFORMED_PACKET' },
  { name: 'a wildcard in a PUBLISH topic', connect: 60, bytes: (id) => [gen(publishPacket(`tenants/acme/devices/${id}/#`, payload(), 1))], code: 'TIQ_ERR_TOPIC_DENIED' },
  { name: 'a 65,535-level topic', connect: 60, bytes: () => [gen(publishPacket('/'.repeat(65_534), payload(), 1))], code: 'TIQ_ERR_TOPIC_TOO_LONG' },
  { name: 'a 300-character topic', connect: 60, bytes: (id) => [gen(publishPacket(`${topicOf(id)}${'x'.repeat(300)}`, payload(), 1))], code: 'TIQ_ERR_TOPIC_TOO_LONG' },
  { name: 'a QoS 2 PUBLISH', connect: 60, bytes: (id) => [gen({ ...publishPacket(topicOf(id), payload(), 1), qos: 2 })], code: 'TIQ_ERR_QOS_UNSUPPORTED' },
  { name: 'a PUBLISH to another device\'s topic', connect: 60, bytes: () => [gen(publishPacket(topicOf('good-1'), payload(), 1))], code: 'TIQ_ERR_TOPIC_DENIED' },
  { name: 'keepalive 0 (never times out)', connect: false, bytes: (id) => [connectPacket(id, 0)], code: 'TIQ_ERR_KEEPALIVE' },
  { name: 'keepalive above the limit', connect: false, bytes: (id) => [connectPacket(id, 61)], code: 'TIQ_ERR_KEEPALIVE' },
  { name: 'no CONNECT at all after the handshake', connect: false, bytes: () => [], code: 'TIQ_ERR_CONNECT_TIMEOUT' },
  { name: 'a CONNECT sent byte by byte (slowloris)', connect: false, bytes: (id) => [...connectPacket(id)].map((b) => Buffer.from([b])), gapMs: 80, code: 'TIQ_ERR_CONNECT_TIMEOUT' },
  { name: 'a PUBLISH sent byte by byte after CONNECT (slowloris)', connect: 1, bytes: (id) => [...gen(publishPacket(topicOf(id), payload(), 1))].map((b) => Buffer.from([b])), gapMs: 400, code: 'TIQ_ERR_KEEPALIVE', closeWithinMs: 6000 },
];

describe('raw MQTT bad-input corpus', () => {
  const corpus = CorpusGateway.hooked('atk');

  it.each(CASES)('$name: closed with $code; the good device keeps flowing', async (c) => {
    const { gw, pki, good } = corpus;
    const id = corpus.nextAttacker();
    const before = await gw.gateway.stats.refusalCount(c.code);
    const raw = await attack(gw.port, pki.device('acme', id), id, { connect: c.connect, bytes: c.bytes(id), gapMs: c.gapMs });
    expect(await closedWithin(raw, c.closeWithinMs ?? 3000)).toBe(true);
    expect(await refusalCounted(gw.gateway, c.code, before)).toBe(true);
    expect(raw.pubacks()).toEqual([]);
    await goodDeviceFlows(good);
  });

  it('a client id that is not the certificate\'s device gets CONNACK 2', async () => {
    const { gw, pki } = corpus;
    const raw = await attack(gw.port, pki.device('acme', 'owner'), 'someone-else', { connect: false, bytes: [connectPacket('someone-else')] });
    await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    expect((raw.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket).returnCode).toBe(2);
    expect(await closedWithin(raw, 2000)).toBe(true);
  });

  it('a TCP connection that never starts TLS, or stops mid-ClientHello, is closed at the handshake timeout', async () => {
    const { gw, good } = corpus;
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_TLS_HANDSHAKE');
    const [silent, partial] = await Promise.all([
      halfOpenTls(gw.port, Buffer.alloc(0)),
      halfOpenTls(gw.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])),
    ]);
    for (const r of [silent, partial]) expect(r.closedAfterMs).toBeLessThan(3000);
    expect(await refusalCounted(gw.gateway, 'TIQ_ERR_TLS_HANDSHAKE', before)).toBe(true);
    await goodDeviceFlows(good);
  });

  it('nothing of any attacker was stored, the good device\'s messages all were', async () => {
    const stored = await corpus.storedCounts();
    for (const [id, n] of stored.attackers) expect([id, n]).toEqual([id, 0]);
    expect(stored.good).toBe(CASES.length + 1);
  });

  it('refusal logs carry codes and never payload bytes or coordinates', () => {
    const text = corpus.gw.logs.raw.join('\n');
    expect(text).not.toContain('48.85837');
    for (const c of new Set(CASES.map((x) => x.code))) expect(text).toContain(c);
  });
});
