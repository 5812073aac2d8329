/**
 * Per-stage CPU cost of the ingest pipeline on one thread, with the real
 * codec, privacy engine and record sealer (local keyring, cached data key):
 * `node --import tsx bench/stage-costs.ts [messages]`. Compared with the
 * gateway's CPU per message from `npm run bench`, it says what share of a
 * message each stage is (issue 3: the policy stage; issue 4: encryption).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { openKeyContext } from '../src/keys/key-context.ts';
import { TelemetryCodec } from '../src/messages/codec.ts';
import { validateVehicleLocation } from '../src/messages/validate.ts';
import { privacySourcesFromConfig } from '../src/privacy/config-sources.ts';
import { createPrivacyEngine } from '../src/privacy/privacy-engine.ts';
import { newRecordId } from '../src/pipeline/record-id.ts';
import { MemoryDataKeyStore } from '../test/helpers/memory-data-key-store.ts';

const N = Number(process.argv[2] ?? 200_000);
const TYPE = 'thingiq.telemetry.v1.VehicleLocation';

const config = parseConfig({
  dataDir: mkdtempSync(join(tmpdir(), 'thingiq-stages-')),
  tenants: {
    acme: {
      privacy: {
        policyId: 'bench', version: 1, timezone: 'Europe/Berlin',
        defaults: { '*': { action: 'coarsen', coarsen: { method: 'grid', cellM: 500 } } },
        zones: [{ name: 'depot', shape: 'circle', center: { lat: 52.52, lon: 13.405 }, radiusM: 300, action: 'strip' }],
      },
    },
  },
});
const codec = TelemetryCodec.load();
const engine = createPrivacyEngine({ tenants: privacySourcesFromConfig(config) });
const keys = await openKeyContext(config, new MemoryDataKeyStore(), { env: {} });
const type = codec.type(TYPE);
const now = Date.now();
const payloads = Array.from({ length: 1024 }, (_, i) => Buffer.from(type.encode(type.fromObject({
  timeUnixMs: now, sequence: i + 1, latitude: 48.85 + i * 1e-4, longitude: 2.29 + i * 1e-4, speedMps: 12.5, headingDeg: 90, accuracyM: 4, tripId: 'trip-1',
})).finish()));
await keys.sealer.seal({ tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId: newRecordId(now), plaintext: payloads[0]! }); // warm the data key

const cost = { decode: 0n, validate: 0n, privacy: 0n, encode: 0n, seal: 0n };
for (let i = 0; i < N; i++) {
  const payload = payloads[i & 1023]!;
  let t = process.hrtime.bigint();
  const body = codec.decode(TYPE, payload, 'protobuf');
  let u = process.hrtime.bigint(); cost.decode += u - t; t = u;
  validateVehicleLocation(body, { nowMs: now, maxClockSkewMs: 86_400_000 });
  u = process.hrtime.bigint(); cost.validate += u - t; t = u;
  const outcome = engine.apply({ tenantId: 'acme', deviceId: 'truck-1', stream: 'location', messageType: TYPE, receivedAtMs: now, body });
  body['appliedPolicy'] = { policyId: outcome.applied.policyId, version: outcome.applied.policyVersion, locationAction: outcome.applied.locationAction };
  u = process.hrtime.bigint(); cost.privacy += u - t; t = u;
  const out = codec.encode(TYPE, body, 'protobuf');
  u = process.hrtime.bigint(); cost.encode += u - t; t = u;
  const sealed = keys.sealer.seal({ tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId: newRecordId(now), plaintext: out });
  if (sealed instanceof Promise) await sealed;
  u = process.hrtime.bigint(); cost.seal += u - t;
}
await keys.close();
const rows = Object.entries(cost).map(([stage, ns]) => ({ stage, usPerMessage: Number(ns) / N / 1000 }));
for (const r of rows) process.stdout.write(`${r.stage.padEnd(9)} ${r.usPerMessage.toFixed(2).padStart(7)} µs/message\n`);
process.stdout.write(`${JSON.stringify({ messages: N, stages: Object.fromEntries(rows.map((r) => [r.stage, Number(r.usPerMessage.toFixed(3))])) })}\n`);
