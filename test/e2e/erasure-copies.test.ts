/**
 * Erasure that holds for every copy, over a real gateway (mutual TLS, MQTT,
 * SQLite): an online copy of thingiq.db taken before erasing a device no
 * longer decrypts that device's records with the live key store, while the
 * other device's records in the same copy still do; after the erasure no
 * byte of the device's wrapped data keys, wrapped device key or records is
 * left in thingiq.db, its WAL, or the device key vault; a shred recorded
 * elsewhere in the control store is applied to this vault, live or at start.
 */
import BetterSqlite3 from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { recordShred } from '../../src/control/shred-tombstone.ts';
import { DeviceKeyVault } from '../../src/keys/device-key-vault.ts';
import { openKeyContext, type KeyContext } from '../../src/keys/key-context.ts';
import { deviceVaultPath } from '../../src/keys/key-store-paths.ts';
import { TelemetryCodec } from '../../src/messages/codec.ts';
import { recordDecoder } from '../../src/messages/record-decoder.ts';
import { exportRecords } from '../../src/sinks/record-export.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { connect, startGateway, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const MARKER = 'ERASURE-MARKER-7c1d9e';

function call(port: number, pem: ClientPem, method: string, path: string): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, text,
        get json() { return JSON.parse(text) as Record<string, unknown>; },
      }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Which of the files contain the needle (raw bytes, as an attacker with the disk would search). */
function filesWith(files: readonly string[], needle: Buffer): string[] {
  return files.filter((f) => existsSync(f) && readFileSync(f).includes(needle));
}

/** Exports the device's records from a sink with the given keys: the NDJSON lines, or the error code. */
async function exportFrom(sink: SqliteSink, ctx: KeyContext, config: Parameters<typeof recordDecoder>[1], deviceId: string): Promise<{ lines: string[]; code?: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  try {
    await exportRecords(sink, { tenantId: 'acme', deviceId }, out, { format: 'ndjson', openRecord: (r) => ctx.sealer.open(r), decode: recordDecoder(TelemetryCodec.load(), config) });
    return { lines: text.split('\n').filter(Boolean) };
  } catch (err) {
    return { lines: text.split('\n').filter(Boolean), code: (err as { code?: string }).code ?? String(err) };
  }
}

describe('erasure reaches copies of the database taken before it (SQLite)', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  const dataDir = join(pki.baseDir, 'data');
  const dbPath = join(dataDir, 'thingiq.db');
  const copyPath = join(pki.baseDir, 'copy-before-erasure.db');

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('dpo');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  async function publish(deviceId: string, count: number): Promise<void> {
    const device = await connect(gw.port, pki.device('acme', deviceId), { clientId: deviceId });
    clients.push(device);
    for (let i = 0; i < count; i++) {
      await device.publishAsync(`tenants/acme/devices/${deviceId}/location`, encode(VEHICLE, vehicle({ tripId: `${MARKER}-${deviceId}` })), { qos: 1 });
    }
  }

  it('the copy\'s records of the erased device answer TIQ_ERR_KEY_SHREDDED; no key or record bytes remain in the live files', async () => {
    await publish('truck-1', 30);
    await publish('truck-2', 5);

    // An online copy, as a backup tool would take it while the gateway runs.
    const live = new BetterSqlite3(dbPath, { readonly: true });
    await live.backup(copyPath);
    live.close();
    const copy = new BetterSqlite3(copyPath, { readonly: true });
    const wrappedDeks = (copy.prepare("SELECT wrapped FROM tiq_data_keys WHERE tenant_id = 'acme' AND device_id = 'truck-1'").all() as { wrapped: Buffer }[]).map((r) => r.wrapped);
    const ciphertexts = (copy.prepare("SELECT ciphertext FROM tiq_records WHERE tenant_id = 'acme' AND device_id = 'truck-1'").all() as { ciphertext: Buffer }[]).map((r) => r.ciphertext);
    copy.close();
    expect(wrappedDeks.length).toBeGreaterThan(0);
    expect(ciphertexts).toHaveLength(30);
    const vaultPath = deviceVaultPath({ ...gw.gateway.config, dataDir });
    const vault = DeviceKeyVault.open(vaultPath);
    const wrappedKek = vault.get('acme', 'truck-1')!.wrapped;

    // Before the erasure the copy decrypts with the live key store: the marker is in the export.
    const copySink = new SqliteSink('copy', { path: copyPath, durability: 'fsync' });
    await copySink.start();
    const config = () => gw.gateway.config;
    const before = await openKeyContext({ ...gw.gateway.config, dataDir }, copySink);
    const readable = await exportFrom(copySink, before, config, 'truck-1');
    expect([readable.code, readable.lines.length]).toEqual([undefined, 30]);
    expect(readable.lines[0]).toContain(MARKER);
    await before.close();

    const erased = await call(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-1/erasure');
    expect(erased.status).toBe(200);
    expect(erased.json).toMatchObject({ recordsDeleted: 30, recordsRemaining: 0, deviceKeysDestroyed: 1 });

    // The vault keeps a tombstone under the key receipt, naming the destroyed device KEK.
    const tombstones = await vault.listTombstones();
    expect(tombstones).toEqual([expect.objectContaining({ tenantId: 'acme', deviceId: 'truck-1', kekRefs: ['device:acme:truck-1:1'], receiptId: erased.json['keyReceiptId'] })]);
    expect(JSON.stringify(tombstones)).not.toContain(wrappedKek.toString('base64'));
    vault.close();

    // The copy, read with today's key store: the erased device's records cannot be decrypted; the other device's can.
    const after = await openKeyContext({ ...gw.gateway.config, dataDir }, copySink);
    const shredded = await exportFrom(copySink, after, config, 'truck-1');
    expect([shredded.code, shredded.lines.length]).toEqual(['TIQ_ERR_KEY_SHREDDED', 0]);
    for (const r of await copySink.queryRecords({ tenantId: 'acme', deviceId: 'truck-1', limit: 5 })) {
      await expect(after.sealer.open(r)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
    }
    const other = await exportFrom(copySink, after, config, 'truck-2');
    expect([other.code, other.lines.length]).toEqual([undefined, 5]);
    expect(other.lines.every((l) => l.includes(`${MARKER}-truck-2`))).toBe(true);
    await after.close();
    await copySink.close();

    // The raw files: the copy still holds the bytes (so the search can find them), the live files do not.
    const liveFiles = [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, vaultPath, `${vaultPath}-journal`];
    for (const dek of wrappedDeks) {
      expect(filesWith([copyPath], dek)).toEqual([copyPath]);
      expect(filesWith(liveFiles, dek)).toEqual([]);
    }
    expect(filesWith(liveFiles, wrappedKek)).toEqual([]);
    for (const c of ciphertexts) expect(filesWith(liveFiles, c)).toEqual([]);
    expect(existsSync(`${dbPath}-wal`) ? readFileSync(`${dbPath}-wal`).length : 0).toBe(0);
  });

  it('a device that publishes again after its erasure gets a fresh device KEK and stays readable', async () => {
    await publish('truck-1', 2);
    const vault = DeviceKeyVault.open(deviceVaultPath({ ...gw.gateway.config, dataDir }));
    expect(vault.get('acme', 'truck-1')?.kekRef).toBe('device:acme:truck-1:2');
    vault.close();
    const data = await call(gw.gateway.adminPorts.mtlsPort, op, 'GET', '/v1/tenants/acme/devices/truck-1/data');
    expect(data.status).toBe(200);
    const lines = data.text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.includes(`${MARKER}-truck-1`))).toBe(true);
  });

  it('a shred another gateway recorded in the control store destroys this gateway\'s device KEK too', async () => {
    await publish('truck-3', 3);
    const vault = DeviceKeyVault.open(deviceVaultPath({ ...gw.gateway.config, dataDir }));
    expect(vault.get('acme', 'truck-3')).toBeDefined();
    const [record] = await gw.gateway.storage.sinkFor('acme').queryRecords({ tenantId: 'acme', deviceId: 'truck-3', limit: 1 });
    expect(await gw.gateway.keys.sealer.open(record!)).toBeInstanceOf(Buffer);
    const receiptId = randomUUID();
    await withSecondControlStore(gw.gateway, (store) => recordShred(store, {
      tenantId: 'acme', deviceId: 'truck-3', receiptId, destroyedCount: 1, actor: 'operator:elsewhere', destroyedAt: new Date().toISOString(),
    }));
    await vi.waitFor(() => expect(vault.get('acme', 'truck-3')).toBeUndefined(), { timeout: 3000, interval: 50 });
    expect((await vault.listTombstones()).find((t) => t.receiptId === receiptId)).toMatchObject({ deviceId: 'truck-3', kekRefs: ['device:acme:truck-3:1'] });
    vault.close();
    await expect(gw.gateway.keys.sealer.open(record!)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
  });
});

describe('a shred recorded while the gateway was down', () => {
  it('is applied to its vault when it starts: the device KEK made before it is destroyed', async () => {
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    let gw = await startGateway(pki);
    const device = await connect(gw.port, pki.device('acme', 'truck-4'), { clientId: 'truck-4' });
    await device.publishAsync('tenants/acme/devices/truck-4/location', encode(VEHICLE, vehicle()), { qos: 1 });
    device.end(true);
    const vaultPath = deviceVaultPath({ ...gw.gateway.config, dataDir });
    const controlConfig = gw.gateway.config.controlStore;
    await gw.gateway.close();

    // Another gateway (or a restored control store) knows of a shred this vault never saw.
    const control = await openControlStore(controlConfig, dataDir);
    await recordShred(control, { tenantId: 'acme', deviceId: 'truck-4', receiptId: randomUUID(), destroyedCount: 1, actor: 'operator:elsewhere', destroyedAt: new Date().toISOString() });
    await control.close();
    const before = DeviceKeyVault.open(vaultPath);
    expect(before.get('acme', 'truck-4')).toBeDefined();
    before.close();

    gw = await startGateway(pki);
    try {
      const vault = DeviceKeyVault.open(vaultPath);
      expect(vault.get('acme', 'truck-4')).toBeUndefined();
      vault.close();
      const [record] = await gw.gateway.storage.sinkFor('acme').queryRecords({ tenantId: 'acme', deviceId: 'truck-4', limit: 1 });
      await expect(gw.gateway.keys.sealer.open(record!)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
    } finally {
      await gw.gateway.close();
    }
  });
});
