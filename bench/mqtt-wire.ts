/**
 * MQTT 3.1.1 and 5 on the wire, by hand (`v` is the protocol level, 4 or 5;
 * MQTT 5 adds a property length after the variable header, §2.2.2): the load generator builds every packet it
 * sends into one buffer and splits what it receives without a general parser,
 * so that its own CPU stays small next to the broker's.
 */
import type { Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

/** Coalesces the writes of one tick into one TLS record (cork now, uncork on the next tick). */
export function corkTick(socket: Socket): void {
  if (socket.writableCorked) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}

export const PACKET_CONNACK = 2;
export const PACKET_PUBLISH = 3;
export const PACKET_PUBACK = 4;
export const PACKET_SUBACK = 9;

export type WireVersion = 4 | 5;

export function connectPacket(clientId: string, keepaliveS: number, v: WireVersion = 4): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId, keepalive: keepaliveS }, { protocolVersion: v });
}

export function subscribePacket(filter: string, messageId: number, v: WireVersion = 4): Buffer {
  return mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 1 }] }, { protocolVersion: v });
}

/** Offset past an MQTT 5 property block (a variable byte integer length, then the properties) at `o`. */
function skipProperties(body: Buffer, o: number): number {
  let length = 0;
  let multiplier = 1;
  let byte: number;
  do {
    byte = body[o++] ?? 0;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
  } while (byte & 0x80);
  return o + length;
}

/** The first granted QoS (or reason code) of a SUBACK body. */
export function subackGranted(body: Buffer, v: WireVersion = 4): number {
  return body[v === 5 ? skipProperties(body, 2) : 2] ?? 0x80;
}

/** Remaining length as a variable byte integer [MQTT-2.2.3]. */
function varLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** PUBLISH, QoS 1, no retain, no dup: fixed header 0x32 [MQTT-3.3.1]. */
export function publishQos1(topic: Buffer, messageId: number, payload: Buffer, v: WireVersion = 4): Buffer {
  const props = v === 5 ? 1 : 0;
  const remaining = 2 + topic.length + 2 + props + payload.length;
  const buf = Buffer.allocUnsafe(1 + varLength(remaining) + remaining);
  buf[0] = 0x32;
  let o = 1;
  let r = remaining;
  do {
    let byte = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) byte |= 0x80;
    buf[o++] = byte;
  } while (r > 0);
  o = buf.writeUInt16BE(topic.length, o);
  o += topic.copy(buf, o);
  o = buf.writeUInt16BE(messageId, o);
  if (props) buf[o++] = 0; // no properties
  payload.copy(buf, o);
  return buf;
}

export function pubackPacket(messageId: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf[0] = 0x40;
  buf[1] = 2;
  buf.writeUInt16BE(messageId, 2);
  return buf;
}

export interface ReceivedPublish {
  readonly topic: string;
  readonly qos: number;
  readonly messageId: number;
  readonly payload: Buffer;
}

export function parsePublish(flags: number, body: Buffer, v: WireVersion = 4): ReceivedPublish {
  const topicLength = body.readUInt16BE(0);
  const topic = body.toString('utf8', 2, 2 + topicLength);
  const qos = (flags >> 1) & 3;
  let o = 2 + topicLength;
  const messageId = qos > 0 ? body.readUInt16BE(o) : 0;
  if (qos > 0) o += 2;
  if (v === 5) o = skipProperties(body, o);
  return { topic, qos, messageId, payload: body.subarray(o) };
}

export type PacketHandler = (type: number, flags: number, body: Buffer) => void;

/** Splits a byte stream into MQTT packets (fixed header, remaining length, body). */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly onPacket: PacketHandler) {}

  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let o = 0;
    for (;;) {
      if (buf.length - o < 2) break;
      let length = 0;
      let multiplier = 1;
      let i = o + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < buf.length; n++) {
        const byte = buf[i++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) { complete = true; break; }
      }
      if (!complete || buf.length - i < length) break;
      const header = buf[o]!;
      this.onPacket(header >> 4, header & 0x0f, buf.subarray(i, i + length));
      o = i + length;
    }
    this.pending = o < buf.length ? Buffer.from(buf.subarray(o)) : undefined;
  }
}
