/**
 * Smoke test of the benchmark harness: payloads, wire packets, the loss
 * ledger, and the load generator and connection-scale test against a bare
 * aedes for about a second. No timing assertions: the figures belong to
 * `npm run bench`, on a quiet machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_TENANT, createBenchPki, issueScaleDevices, telemetryTopic, type BenchPki } from '../../bench/bench-pki.ts';
import { runConnectionScale } from '../../bench/connection-scale.ts';
import { GeneratorClient } from '../../bench/generator-client.ts';
import { measureLoad } from '../../bench/measure.ts';
import { FrameReader, parsePublish, publishQos1 } from '../../bench/mqtt-wire.ts';
import { runPublishLoad, type LoadSpec } from '../../bench/publish-load.ts';
import { SequenceLedger } from '../../bench/sequence-ledger.ts';
import { percentile } from '../../bench/stats.ts';
import { startNodeTarget } from '../../bench/targets/target-process.ts';
import { readSequence, vehicleLocation } from '../../bench/telemetry-payload.ts';
import { decode, VEHICLE } from '../helpers/telemetry.ts';

describe('bench payloads and packets', () => {
  it.each([64, 65, 100, 512, 1024])('encodes a valid VehicleLocation of exactly %i bytes', (size) => {
    const timeUnixMs = Date.now();
    const payload = vehicleLocation(size, { timeUnixMs, sequence: 30_000_001, latitude: 48.8584, longitude: 2.2945, speedMps: 12.5, headingDeg: 90 });
    expect(payload.length).toBe(size);
    const body = decode(VEHICLE, payload);
    expect(body).toMatchObject({ timeUnixMs, sequence: 30_000_001, latitude: 48.8584, longitude: 2.2945 });
    expect((body['tripId'] as string).length).toBeLessThanOrEqual(64);
    expect(readSequence(payload)).toBe(30_000_001);
  });

  it('builds PUBLISH packets mqtt-packet parses, and splits a stream cut anywhere', () => {
    const payload = vehicleLocation(512, { timeUnixMs: Date.now(), sequence: 7, latitude: 1, longitude: 2, speedMps: 0, headingDeg: 0 });
    const packet = publishQos1(Buffer.from(telemetryTopic('dev-00001')), 65_535, payload);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const parsed: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => parsed.push(p));
    parser.parse(packet);
    expect(parsed[0]).toMatchObject({ cmd: 'publish', qos: 1, messageId: 65_535, topic: telemetryTopic('dev-00001') });

    const stream = Buffer.concat([packet, packet, Buffer.from([0x40, 2, 0, 9])]);
    const seen: number[] = [];
    const reader = new FrameReader((type, flags, body) => seen.push(type === 3 ? readSequence(parsePublish(flags, body).payload)! : type));
    for (let i = 0; i < stream.length; i += 7) reader.push(stream.subarray(i, i + 7));
    expect(seen).toEqual([7, 7, 4]);
  });

  it('counts loss and duplicates per device', () => {
    const ledger = new SequenceLedger(101);
    for (const s of [101, 102, 102, 104]) ledger.receive('a', s);
    ledger.receive('b', 101);
    ledger.receive('b', undefined);
    expect(ledger.summary(6)).toEqual({ received: 6, unique: 4, duplicates: 1, missing: 2, unparsable: 1 });
    expect(percentile(Float64Array.from([1, 2, 3, 4]), 50)).toBe(2);
  });
});

describe('bench load generator against bare aedes', () => {
  let work: string;
  let pki: BenchPki;
  let server: Server;
  let broker: Aedes;
  let port: number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'thingiq-bench-test-'));
    pki = createBenchPki(work, 4);
    broker = await Aedes.createBroker();
    server = createServer({ ca: [pki.caPem], cert: pki.serverCertPem, key: pki.serverKeyPem, requestCert: true, rejectUnauthorized: true });
    server.on('secureConnection', (s) => broker.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await new Promise<void>((r) => broker.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  });

  const spec = (ratePerSec: number, targetPort = port): LoadSpec => ({
    endpoint: { host: '127.0.0.1', port: targetPort, servername: 'localhost' },
    caPem: pki.caPem, keyPem: pki.clientKeyPem,
    devices: pki.devices.map((d) => ({ ...d, topic: telemetryTopic(d.id) })),
    subscriber: { ...pki.subscriber, topic: `tenants/${BENCH_TENANT}/#` },
    payloadBytes: 64, window: 4, ratePerSec, warmupMs: 200, durationMs: 600, sequenceBase: 1, drainTimeoutMs: 5000,
  });

  it.each([0, 500])('publishes with every message acknowledged and received once (rate %i, 0 = max)', async (rate) => {
    const marks: string[] = [];
    const r = await runPublishLoad(spec(rate), (m) => marks.push(m));
    expect(marks).toEqual(['measure-start', 'measure-end']);
    expect(r.published).toBeGreaterThan(0);
    expect(r.acked).toBe(r.published);
    expect(r.subscriber).toMatchObject({ expected: r.published, unique: r.published, missing: 0, duplicates: 0, unparsable: 0 });
    expect(Object.values(r.ackedByDevice).reduce((a, b) => a + b, 0)).toBe(r.acked);
    expect(r.latencyMs.count).toBeGreaterThan(0);
  });

  it('holds idle connections and resumes their TLS sessions', async () => {
    const clients = issueScaleDevices(pki, 4, 5);
    const marks: string[] = [];
    const r = await runConnectionScale(
      { endpoint: { host: '127.0.0.1', port, servername: 'localhost' }, caPem: pki.caPem, keyPem: pki.clientKeyPem, clients, concurrency: 2, idleMs: 100 },
      async (m) => { marks.push(m); },
    );
    expect(marks).toEqual(['before-full', 'full-connected', 'before-resume', 'resumed-connected']);
    expect(r.full).toMatchObject({ attempted: 5, connected: 5, failed: 0, resumed: 0 });
    expect(r.ticketsReceived).toBe(5);
    expect(r.resumption).toMatchObject({ connected: 5, failed: 0, resumed: 5 });
  });

  it('measures a broker in its own process from a generator in another', async () => {
    const target = await startNodeTarget('aedes', { kind: 'start-aedes', tls: { caPem: pki.caPem, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem } });
    const gen = new GeneratorClient();
    try {
      const m = await measureLoad(target, gen, spec(0, target.port));
      expect(m.subscriber.missing).toBe(0);
      expect(m.brokerPeakRssBytes).toBeGreaterThan(0);
      expect(Number.isFinite(m.brokerCpuSeconds)).toBe(true);
      // The broker's main thread and its busiest other thread, read from schedstat: shares of the window.
      expect(m.runQueueWait).toBeDefined();
      expect(m.runQueueWait!.mainMeanUs).toBeGreaterThanOrEqual(0);
      for (const share of [m.runQueueWait!.main, m.runQueueWait!.busiestOther]) {
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThan(1);
      }
    } finally {
      gen.close();
      await target.stop();
    }
  });
});
