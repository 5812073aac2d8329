/**
 * A policy that coarsens time coarsens every time stored beside the record:
 * the receive time, the expiry and the time part of the UUIDv7 record id are
 * no finer than the policy's step, in the database and in exports.
 */
import fc from 'fast-check';
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelemetryCodec } from '../../src/messages/codec.ts';
import type { PipelineContext } from '../../src/pipeline/context.ts';
import { runPipeline } from '../../src/pipeline/pipeline.ts';
import { contentDigester } from '../../src/keys/content-digest.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import type { IngestMessage, SealedRecord } from '../../src/records/message.ts';
import { exportRecords } from '../../src/sinks/record-export.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { newSealer, startLocalProvider } from '../keys/fixtures.ts';
import { encode, VEHICLE } from '../helpers/telemetry.ts';
import { createSeededRandom } from './helpers.ts';

const DAY = 86_400_000;
const codec = TelemetryCodec.load();
const digest = contentDigester(createSecretKey(randomBytes(32)));
let sink: SqliteSink;
let sealer: Awaited<ReturnType<typeof newSealer>>['sealer'];

beforeAll(async () => {
  sink = new SqliteSink('default', { path: join(mkdtempSync(join(tmpdir(), 'tiq-stored-time-')), 'thingiq.db'), durability: 'process' });
  await sink.start();
  sealer = newSealer(await startLocalProvider()).sealer;
});
afterAll(async () => { await sink.close(); });

function context(stepMs: number, now: number, written: SealedRecord[]): PipelineContext {
  const privacy = createPrivacyEngine({
    tenants: { acme: { privacy: { policyId: 'hourly', version: 1, defaults: { '*': { action: 'coarsen', coarsen: { method: 'decimal', places: 2 }, timeStepMs: stepMs } } } } },
    random: createSeededRandom(1),
  });
  return {
    codec, privacy: () => privacy, sealer, now: () => now, maxClockSkewMs: 7 * DAY, contentDigest: digest,
    writer: { write: async (r) => { written.push(r); await sink.writeBatch([r]); } },
    retention: (_t, _s, _d, receivedAtMs) => ({ retentionClass: 'location-30d', expiresAtMs: receivedAtMs + 30 * DAY, legalHold: false }),
  };
}

function message(receivedAtMs: number, deviceTimeMs: number, sequence: number): IngestMessage {
  return {
    tenantId: 'acme', deviceId: 'truck-1', stream: 'location', messageType: VEHICLE,
    topic: 'tenants/acme/devices/truck-1/location', qos: 1, receivedAtMs, encoding: 'protobuf',
    payload: encode(VEHICLE, { timeUnixMs: deviceTimeMs, sequence, latitude: 48.858_37, longitude: 2.294_48, speedMps: 3 }),
    body: undefined, deviceTimeMs: 0, sequence: 0, contentDigest: undefined, applied: undefined, sealed: undefined,
  };
}

/** The 48-bit Unix-millisecond prefix of a UUIDv7 (RFC 9562 §5.7). */
const idTime = (id: string): number => parseInt(id.replaceAll('-', '').slice(0, 12), 16);

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void { this.text += chunk.toString(); cb(); }
}

describe('stored timestamps obey the policy time step', () => {
  const step = fc.constantFrom(1000, 60_000, 900_000, 3_600_000, 86_400_000, 7919);
  const instant = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) });
  let seq = 0;

  it('receive time, expiry, record id time and device time are multiples of the step, stored and exported', async () => {
    await fc.assert(fc.asyncProperty(step, instant, fc.integer({ min: -5000, max: 0 }), async (stepMs, now, skew) => {
      const written: SealedRecord[] = [];
      const ctx = context(stepMs, now, written);
      seq += 1;
      const result = await runPipeline(message(now, now + skew, seq), ctx);
      expect(result.kind).toBe('continue');
      const [r] = written;
      expect(r).toBeDefined();
      for (const t of [r!.receivedAtMs, r!.expiresAtMs, r!.deviceTimeMs, idTime(r!.recordId)]) expect(t % stepMs).toBe(0);
      expect(now - r!.receivedAtMs).toBeLessThan(stepMs);

      const out = new Collect();
      await exportRecords(sink, { tenantId: 'acme', deviceId: 'truck-1', limit: 1000 }, out, {
        format: 'ndjson', openRecord: (rec) => sealer.open(rec), decode: (_s, p) => codec.decode(VEHICLE, p, 'protobuf') as object,
      });
      const row = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x['recordId'] === r!.recordId);
      expect(row).toBeDefined();
      for (const k of ['receivedAt', 'expiresAt', 'deviceTime']) expect(Date.parse(row![k] as string) % stepMs).toBe(0);
    }), { numRuns: 60 });
  });

  it('without a time step the receive time keeps its millisecond', async () => {
    const written: SealedRecord[] = [];
    const ctx = context(1000, 0, written);
    const noStep = createPrivacyEngine({ tenants: { acme: { privacy: { policyId: 'p', version: 1, defaults: { '*': { action: 'keep' } } } } } });
    const now = Date.UTC(2026, 5, 1, 12, 25, 52, 439);
    await runPipeline(message(now, now, ++seq), { ...ctx, privacy: () => noStep, now: () => now });
    expect(written[0]!.receivedAtMs).toBe(now);
    expect(idTime(written[0]!.recordId)).toBe(now);
  });
});
