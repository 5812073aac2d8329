/**
 * The publishing load: N devices publish QoS 1 VehicleLocation messages with
 * a window of unacknowledged messages each, either as fast as PUBACKs allow
 * (closed loop) or at a fixed total rate (token bucket); one tenant
 * application subscribes to everything and must receive every message.
 */
import { createSecureContext } from 'node:tls';
import type { MqttConnection } from './mqtt-connection.ts';
import { openMqtt, withConcurrency, type Endpoint } from './mqtt-connection.ts';
import { corkTick, PACKET_PUBACK, PACKET_PUBLISH, PACKET_SUBACK, parsePublish, publishQos1, pubackPacket, subackGranted, subscribePacket, type WireVersion } from './mqtt-wire.ts';
import { readSequence, vehicleLocation } from './telemetry-payload.ts';
import { SequenceLedger } from './sequence-ledger.ts';
import { stallSubscriber, type StalledSubscriberResult } from './stalled-subscriber.ts';
import { summarise, type LatencySummary } from './stats.ts';

export interface ClientSpec {
  readonly id: string;
  readonly certPem: string;
  /** Devices: where they publish. Subscriber: the filter. */
  readonly topic: string;
}

export interface LoadSpec {
  readonly endpoint: Endpoint;
  readonly caPem: string;
  readonly keyPem: string;
  readonly devices: readonly ClientSpec[];
  readonly subscriber: ClientSpec;
  /** A second application of the tenant that subscribes to the same, then stops reading (isolation scenario). */
  readonly stalledSubscriber?: ClientSpec | undefined;
  readonly payloadBytes: number;
  /** Unacknowledged messages per device. */
  readonly window: number;
  /** Total messages per second; 0 = as fast as PUBACKs come back. */
  readonly ratePerSec: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** First sequence number of every device in this run (sequences increase across runs). */
  readonly sequenceBase: number;
  readonly drainTimeoutMs: number;
  /** MQTT protocol level of every client of the run: 4 (3.1.1) or 5. */
  readonly protocolVersion?: WireVersion | undefined;
}

export interface LoadResult {
  readonly published: number;
  readonly acked: number;
  /** PUBACKs received inside the measured window, per second. */
  readonly msgsPerSec: number;
  readonly latencyMs: LatencySummary;
  readonly measuredMs: number;
  readonly subscriber: { readonly expected: number; readonly received: number; readonly unique: number; readonly duplicates: number; readonly missing: number; readonly unparsable: number };
  /** Messages acknowledged per device (for the storage check). */
  readonly ackedByDevice: Record<string, number>;
  readonly stalledSubscriber?: StalledSubscriberResult | undefined;
}

export type Marker = (name: 'measure-start' | 'measure-end') => void;

interface Device {
  readonly conn: MqttConnection;
  readonly id: string;
  readonly topic: Buffer;
  readonly sentAt: Float64Array;
  inflight: number;
  nextId: number;
  sequence: number;
  acked: number;
}

const now = (): number => performance.now();

async function connectSubscriber(spec: LoadSpec, ledger: SequenceLedger): Promise<MqttConnection> {
  const ctx = createSecureContext({ ca: spec.caPem, cert: spec.subscriber.certPem, key: spec.keyPem });
  const v = spec.protocolVersion ?? 4;
  const conn = await openMqtt({ endpoint: spec.endpoint, secureContext: ctx, clientId: spec.subscriber.id, keepaliveS: 600, protocolVersion: v });
  const subacked = new Promise<number>((resolve) => {
    conn.onPacket = (type, flags, body) => {
      if (type === PACKET_SUBACK) { resolve(subackGranted(body, v)); return; }
      if (type !== PACKET_PUBLISH) return;
      const p = parsePublish(flags, body, v);
      if (p.qos > 0) { corkTick(conn.socket); conn.socket.write(pubackPacket(p.messageId)); }
      ledger.receive(p.topic.split('/')[3] ?? '', readSequence(p.payload));
    };
  });
  conn.socket.write(subscribePacket(spec.subscriber.topic, 1, v));
  const granted = await subacked;
  if (granted >= 0x80) throw new Error(`subscription to ${spec.subscriber.topic} refused`);
  return conn;
}

export async function runPublishLoad(spec: LoadSpec, mark: Marker): Promise<LoadResult> {
  const ledger = new SequenceLedger(spec.sequenceBase);
  const subscriber = await connectSubscriber(spec, ledger);
  const s = spec.stalledSubscriber;
  const stalled = s ? await stallSubscriber({ endpoint: spec.endpoint, caPem: spec.caPem, keyPem: spec.keyPem, certPem: s.certPem, clientId: s.id, topic: s.topic }) : undefined;
  const devices = await withConcurrency(spec.devices, 16, async (d): Promise<Device> => {
    const ctx = createSecureContext({ ca: spec.caPem, cert: d.certPem, key: spec.keyPem });
    const conn = await openMqtt({ endpoint: spec.endpoint, secureContext: ctx, clientId: d.id, keepaliveS: 600, protocolVersion: spec.protocolVersion });
    return { conn, id: d.id, topic: Buffer.from(d.topic), sentAt: new Float64Array(65_536), inflight: 0, nextId: 1, sequence: spec.sequenceBase, acked: 0 };
  });

  let sending = true;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let ackedInWindow = 0;
  let published = 0;
  const latencies: number[] = [];

  const send = (d: Device): void => {
    const id = d.nextId;
    d.nextId = id === 65_535 ? 1 : id + 1;
    const payload = vehicleLocation(spec.payloadBytes, {
      timeUnixMs: Date.now(), sequence: d.sequence++, latitude: 48.8584, longitude: 2.2945, speedMps: 12.5, headingDeg: 90,
    });
    d.inflight++;
    published++;
    d.sentAt[id] = now();
    corkTick(d.conn.socket);
    d.conn.socket.write(publishQos1(d.topic, id, payload, spec.protocolVersion ?? 4));
  };

  const closedLoop = spec.ratePerSec <= 0;
  for (const d of devices) {
    d.conn.onPacket = (type, _flags, body) => {
      if (type !== PACKET_PUBACK) return;
      const t = now();
      const id = body.readUInt16BE(0);
      const sentAt = d.sentAt[id]!;
      d.inflight--;
      d.acked++;
      if (sentAt >= windowStart && sentAt < windowEnd) latencies.push(t - sentAt);
      if (t >= windowStart && t < windowEnd) ackedInWindow++;
      if (closedLoop && sending) send(d);
    };
  }

  const started = now();
  windowStart = started + spec.warmupMs;
  windowEnd = windowStart + spec.durationMs;
  const markers = [
    setTimeout(() => mark('measure-start'), spec.warmupMs),
    setTimeout(() => mark('measure-end'), spec.warmupMs + spec.durationMs),
  ];
  let ticker: NodeJS.Timeout | undefined;
  if (closedLoop) {
    for (const d of devices) for (let i = 0; i < spec.window; i++) send(d);
  } else {
    ticker = startTokenBucket(spec, devices, send);
  }
  await sleep(spec.warmupMs + spec.durationMs);
  sending = false;
  if (ticker) clearInterval(ticker);
  markers.forEach(clearTimeout);

  const drainDeadline = now() + spec.drainTimeoutMs;
  while (devices.some((d) => d.inflight > 0) && now() < drainDeadline) await sleep(20);
  const acked = devices.reduce((n, d) => n + d.acked, 0);
  while (ledger.unique < published && now() < drainDeadline) await sleep(20);
  await sleep(100); // late duplicates, if any, show up here
  for (const d of devices) d.conn.socket.destroy();
  subscriber.socket.destroy();
  const stalledSubscriber = await stalled?.finish();

  return {
    published, acked, msgsPerSec: ackedInWindow / (spec.durationMs / 1000), latencyMs: summarise(latencies), measuredMs: spec.durationMs,
    subscriber: { expected: published, ...ledger.summary(published) },
    ackedByDevice: Object.fromEntries(devices.map((d) => [d.id, d.acked])),
    stalledSubscriber,
  };
}

/** Open loop at spec.ratePerSec in total, round-robin over devices that have room in their window. */
function startTokenBucket(spec: LoadSpec, devices: Device[], send: (d: Device) => void): NodeJS.Timeout {
  let tokens = 0;
  let last = now();
  let cursor = 0;
  const cap = Math.max(1, spec.ratePerSec / 100);
  return setInterval(() => {
    const t = now();
    tokens = Math.min(tokens + ((t - last) / 1000) * spec.ratePerSec, cap);
    last = t;
    let tried = 0;
    while (tokens >= 1 && tried < devices.length) {
      const d = devices[cursor]!;
      cursor = (cursor + 1) % devices.length;
      if (d.inflight < spec.window) { send(d); tokens--; tried = 0; } else tried++;
    }
  }, 1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
