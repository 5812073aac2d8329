/** Shared pieces of the abuse corpora (MQTT 3.1.1 and 5): a good device that must keep flowing, and raw attack connections. */
import { connect as netConnect } from 'node:net';
import type mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ErrorCode } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { connectBytes, RawMqtt, type MqttVersion, type RawMqttSocket } from '../helpers/raw-mqtt.ts';
import { RawMqtt5 } from '../helpers/raw-mqtt5.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

/** A CONNECT at the given protocol level (3.1.1 unless told), no properties. */
export function connectPacket(clientId: string, keepalive = 60, version: MqttVersion = 4): Buffer {
  return connectBytes(version, clientId, keepalive);
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

/** One row of a bad-input corpus: what is sent, and the code it must be refused with. */
export interface CorpusCase {
  readonly name: string;
  /** Complete CONNECT first (keepalive in seconds), or send the bytes on a fresh TLS connection. */
  readonly connect: false | number;
  /** The attack bytes for the attacker's device id, written in order (`gapMs` apart). */
  readonly bytes: (id: string) => Buffer[];
  readonly code: ErrorCode;
  readonly gapMs?: number;
}

interface AttackOptions {
  /** Complete CONNECT first (keepalive in seconds), or send the bytes on a fresh TLS connection. */
  readonly connect: false | number;
  readonly bytes: Buffer[];
  readonly gapMs?: number;
}

/**
 * Opens a TLS connection as the device, optionally completes CONNECT (at the
 * given protocol level, 3.1.1 unless told) and checks it was accepted, then
 * writes the attack bytes, `gapMs` apart.
 */
export async function attack(port: number, pem: ReturnType<TestPki['device']>, deviceId: string, opts: AttackOptions & { version?: 4 }): Promise<RawMqtt>;
export async function attack(port: number, pem: ReturnType<TestPki['device']>, deviceId: string, opts: AttackOptions & { version: 5 }): Promise<RawMqtt5>;
export async function attack(port: number, pem: ReturnType<TestPki['device']>, deviceId: string, opts: AttackOptions & { version?: MqttVersion }): Promise<RawMqttSocket> {
  const version = opts.version ?? 4;
  const raw = version === 5 ? await RawMqtt5.open(port, pem) : await RawMqtt.open(port, pem);
  if (opts.connect !== false) {
    raw.socket.write(connectPacket(deviceId, opts.connect, version));
    await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    const ack = raw.packets[0] as mqttPacket.IConnackPacket | undefined;
    // 3.1.1 answers with a return code, MQTT 5 with a reason code; 0 is success in both.
    expect(version === 5 ? ack?.reasonCode : ack?.returnCode).toBe(0);
  }
  for (const b of opts.bytes) {
    if (raw.closed) break;
    raw.socket.write(b);
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  return raw;
}

export async function closedWithin(raw: RawMqttSocket, ms: number): Promise<boolean> {
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

export function goodDevice(port: number, pki: TestPki, id = 'good-1', version: MqttVersion = 4): Promise<MqttClient> {
  return connect(port, pki.device('acme', id), { clientId: id, ...(version === 5 ? { protocolVersion: 5 } : {}) });
}

/**
 * The gateway a bad-input corpus attacks (small connect and handshake
 * timeouts, keepalive 1..60 s), a good 3.1.1 device on it that must keep
 * flowing, and a fresh device id per attack (`prefix-N`).
 */
export class CorpusGateway {
  readonly pki = new TestPki();
  readonly attackers: string[] = [];
  gw!: Awaited<ReturnType<typeof startGateway>>;
  good!: MqttClient;

  private constructor(private readonly prefix: string) {}

  /** Starts the gateway before the enclosing describe's tests, closes it after. */
  static hooked(prefix: string): CorpusGateway {
    const c = new CorpusGateway(prefix);
    beforeAll(async () => {
      c.gw = await startGateway(c.pki, {
        mqtt: { connectTimeoutMs: 600, keepaliveLimitS: 60 },
        limits: { maxPacketBytes: 128 * 1024, tlsHandshakeTimeoutMs: 600, minKeepaliveS: 1 },
      });
      c.good = await goodDevice(c.gw.port, c.pki);
    });
    afterAll(async () => {
      c.good?.end(true);
      await c.gw?.gateway.close();
    });
    return c;
  }

  nextAttacker(): string {
    const id = `${this.prefix}-${this.attackers.length}`;
    this.attackers.push(id);
    return id;
  }

  /** How many records each attacker has stored, and how many the good device has. */
  async storedCounts(): Promise<{ attackers: [string, number][]; good: number }> {
    const sink = this.gw.gateway.storage.sinkFor('acme');
    const attackers: [string, number][] = [];
    for (const id of this.attackers) attackers.push([id, await sink.countRecords({ tenantId: 'acme', deviceId: id })]);
    return { attackers, good: await sink.countRecords({ tenantId: 'acme', deviceId: 'good-1' }) };
  }
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
