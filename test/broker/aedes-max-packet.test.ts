/**
 * Does aedes 2's own `maximumPacketSize` make the frame scanner
 * (src/limits/frame-scanner.ts) redundant? The scanner's bad-framing cases
 * (test/abuse/raw-input*.test.ts) against bare aedes 2.0.0-beta.1 with the
 * option set: it covers every size case (v5: DISCONNECT 0x95; 3.1.1 and
 * before CONNECT: closed), mqtt-packet's parser closes most framing errors,
 * but a PINGREQ with a body is answered and the connection kept. The
 * scanner stays (docs/mqtt5.md, "The frame scanner").
 */
import { createServer, connect, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { varint } from '../abuse/abuse-helpers.ts';

const MAX = 1024;
const c5 = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'a', keepalive: 60 }, { protocolVersion: 5 });
const c4 = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'b', keepalive: 60 });
const huge = () => Buffer.concat([Buffer.from([0x32]), varint(64 * 1024 * 1024), Buffer.alloc(512)]);

describe('bare aedes 2 with maximumPacketSize, against the frame scanner\'s cases', () => {
  let broker: Aedes;
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    broker = await Aedes.createBroker({ maximumPacketSize: MAX });
    server = createServer((s) => broker.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.close();
    await broker.close();
  });

  /** What came back (packet names, reason codes) and whether the connection closed within 1.5 s. */
  function probe(first: Buffer, then: Buffer): Promise<{ got: string[]; closed: boolean }> {
    return new Promise((resolve) => {
      const got: string[] = [];
      const s = connect(port, '127.0.0.1', () => { s.write(first); setTimeout(() => s.write(then), 100); });
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (p) => got.push(p.cmd === 'disconnect' ? `disconnect ${p.reasonCode ?? 0}` : p.cmd));
      s.on('data', (d) => parser.parse(d));
      s.on('error', () => undefined);
      const timer = setTimeout(() => { s.destroy(); resolve({ got, closed: false }); }, 1500);
      s.on('close', () => { clearTimeout(timer); resolve({ got, closed: true }); });
    });
  }

  it.each([
    ['a v5 PUBLISH announcing 64 MiB: DISCONNECT 0x95', c5, huge(), ['connack', 'disconnect 149']],
    ['a whole v5 PUBLISH over the limit: DISCONNECT 0x95', c5, mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(2 * MAX), qos: 0, retain: false, dup: false }, { protocolVersion: 5 }), ['connack', 'disconnect 149']],
    ['a 3.1.1 PUBLISH announcing 64 MiB: closed', c4, huge(), ['connack']],
    ['a CONNECT announcing 200 MB: closed', Buffer.alloc(0), Buffer.concat([Buffer.from([0x10]), varint(200_000_000), Buffer.alloc(64)]), []],
    ['SUBSCRIBE with reserved flags: closed (parser)', c4, Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]), ['connack']],
    ['a five-byte remaining length: closed (parser)', c4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), ['connack']],
    ['PUBLISH with QoS 3: closed (parser)', c4, Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]), ['connack']],
  ])('%s', async (_name, first, then, expected) => {
    const r = await probe(first, then);
    expect(r).toEqual({ got: expected, closed: true });
  });

  it('a PINGREQ with a body is answered and the connection kept: the scanner\'s rule is not aedes\'s', async () => {
    const r = await probe(c4, Buffer.from([0xc0, 0x01, 0x00]));
    expect(r).toEqual({ got: ['connack', 'pingresp'], closed: false });
  });
});
