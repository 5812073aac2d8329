/** Shared pieces of the abuse corpus: a good device that must keep flowing, and raw attack connections. */
import { connect as netConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { ErrorCode } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { connect } from '../helpers/gateway.ts';
import type { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

export function connectPacket(clientId: string, keepalive = 60): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive });
}

/** A PUBLISH with the topic as raw bytes (invalid UTF-8, NUL) and any fixed-header flags. */
export function rawPublish(topic: Buffer, payload: Buffer, flags = 0x02, messageId = 1): Buffer {
  const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, (flags & 0x06) ? Buffer.from([messageId >> 8, messageId & 0xff]) : Buffer.alloc(0), payload]);
  return Buffer.concat([Buffer.from([0x30 | flags]), varint(body.length), body]);
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** Opens a TLS connection as the device, optionally completes CONNECT, then writes the attack bytes. */
export async function attack(port: number, pem: ReturnType<TestPki['device']>, deviceId: string, opts: { connect: false | number; bytes: Buffer[]; gapMs?: number }): Promise<RawMqtt> {
  const raw = await RawMqtt.open(port, pem);
  if (opts.connect !== false) {
    raw.socket.write(connectPacket(deviceId, opts.connect));
    await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    expect((raw.packets[0] as mqttPacket.IConnackPacket | undefined)?.returnCode).toBe(0);
  }
  for (const b of opts.bytes) {
    if (raw.closed) break;
    raw.socket.write(b);
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  return raw;
}

export async function closedWithin(raw: RawMqtt, ms: number): Promise<boolean> {
  await raw.waitFor(() => false, ms);
  return raw.closed;
}

/** Waits until the refusal counter of `code` passes `before`. */
export async function refusalCounted(gateway: Gateway, code: ErrorCode, before: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await gateway.stats.refusalCount(code) > before) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The well-behaved device: one QoS 1 publish, acknowledged (so stored) within the timeout. */
export async function goodDeviceFlows(client: MqttClient): Promise<void> {
  await client.publishAsync(`tenants/acme/devices/${client.options.clientId}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
}

export function goodDevice(port: number, pki: TestPki, id = 'good-1'): Promise<MqttClient> {
  return connect(port, pki.device('acme', id), { clientId: id });
}

/** A TCP connection that starts TLS and never finishes it (or never starts). */
export function halfOpenTls(port: number, bytes: Buffer): Promise<{ closedAfterMs: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => s.write(bytes));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ closedAfterMs: Date.now() - start }));
  });
}
