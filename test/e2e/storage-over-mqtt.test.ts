/**
 * The whole pipeline over real mutual TLS into the default SQLite sink:
 * what is acknowledged is stored once, encrypted, policy-applied, tagged
 * for retention; no plaintext and no exact coordinate reaches the database.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { exportRecords } from '../../src/sinks/record-export.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const MARKER = 'PLAINTEXT-MARKER-7f3a9c';
const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };

describe('pipeline into storage', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  const topic = 'tenants/acme/devices/truck-1/location';

  beforeAll(async () => {
    gw = await startGateway(pki, {
      tenants: {
        ...TEST_TENANTS,
        acme: {
          ...TEST_TENANTS.acme,
          privacy: { policyId: 'fleet', version: 4, defaults: { '*': { action: 'strip' }, location: { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } } },
          retention: { streams: { location: { class: 'location-30d', days: 30 } } },
        },
      },
    });
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
  });
  afterAll(async () => {
    device?.end(true);
    await gw?.gateway.close();
  });

  it('stores every acknowledged message exactly once, redeliveries included', async () => {
    const sent = new Map<number, Buffer>();
    for (let seq = 1; seq <= 50; seq++) {
      sent.set(seq, encode(VEHICLE, vehicle({ ...EXACT, sequence: seq, tripId: MARKER })));
      await device.publishAsync(topic, sent.get(seq)!, { qos: 1 });
    }
    // a device resending after a lost PUBACK: the same messages again
    for (let seq = 48; seq <= 50; seq++) {
      await device.publishAsync(topic, sent.get(seq)!, { qos: 1, dup: true });
    }
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme' })).toBe(50);
  });

  it('stores ciphertext only: the database files hold neither the marker nor the exact coordinates', () => {
    const dataDir = join(pki.baseDir, 'data');
    const files = readdirSync(dataDir).filter((f) => f.startsWith('thingiq.db'));
    expect(files.length).toBeGreaterThan(0);
    const latBytes = Buffer.alloc(8);
    latBytes.writeDoubleLE(EXACT.latitude);
    for (const f of files) {
      const bytes = readFileSync(join(dataDir, f));
      expect(bytes.includes(Buffer.from(MARKER))).toBe(false);
      expect(bytes.includes(Buffer.from('48.8583701'))).toBe(false);
      expect(bytes.includes(latBytes)).toBe(false);
    }
  });

  it('records carry retention tags and the policy version, and decrypt to policy-applied data', async () => {
    const sink = gw.gateway.storage.sinkFor('acme');
    const [record] = await sink.queryRecords({ tenantId: 'acme', limit: 1 });
    expect(record).toMatchObject({ retentionClass: 'location-30d', policyId: 'fleet', policyVersion: 4, legalHold: false });
    expect(record!.expiresAtMs - record!.receivedAtMs).toBe(30 * 86_400_000);
    expect(record!.iv).toHaveLength(12);
    expect(record!.tag).toHaveLength(16);

    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => { text += d.toString(); });
    const n = await exportRecords(sink, { tenantId: 'acme' }, out, {
      format: 'ndjson',
      openRecord: (r) => gw.gateway.keys.sealer.open(r),
      decode: (_stream, payload, encoding) => gw.gateway.codec.decode(VEHICLE, payload, encoding),
    });
    expect(n).toBe(50);
    const rows = text.trim().split('\n').map((l) => JSON.parse(l) as { data: Record<string, unknown> });
    expect(rows[0]!.data['tripId']).toBe(MARKER);
    expect(rows[0]!.data['latitude']).not.toBe(EXACT.latitude);
    expect(rows[0]!.data).not.toHaveProperty('speedMps');
  });
});
