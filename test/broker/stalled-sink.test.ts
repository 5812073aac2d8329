/**
 * While storage is stalled, devices wait for their PUBACKs but stay
 * connected: PINGREQs are still answered and the keepalive never counts the
 * time the gateway itself stopped reading. After the stall, every message
 * waiting is stored and acknowledged.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RecordWriter } from '../../src/pipeline/context.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { connect, sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { publishPacket, RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

/** The real storage behind a valve: while closed, every commit hangs, as with a stalled database. */
class StalledWriter implements RecordWriter {
  target: RecordWriter | undefined;
  waiting = 0;
  private opened: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;

  stall(): void {
    this.opened = new Promise((r) => { this.open = r; });
  }

  release(): void {
    this.open();
  }

  async write(record: SealedRecord): Promise<unknown> {
    this.waiting++;
    await this.opened;
    this.waiting--;
    return this.target!.write(record);
  }
}

describe('a stalled sink', () => {
  const pki = new TestPki();
  const writer = new StalledWriter();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    gw = await startGateway(pki, {
      // A 1 s keepalive: the aedes timer (1.5 s) would close a device within the 4 s stall.
      limits: { minKeepaliveS: 1, maxReadAheadBytes: 4096 },
    }, { writer });
    writer.target = gw.gateway.storage;
  });
  afterAll(async () => {
    writer.release();
    await gw?.gateway.close();
  });

  const stored = (deviceId: string) => gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId });
  const keepaliveCloses = (deviceId: string) => gw.logs.events('connection_closed')
    .filter((l) => l['code'] === 'TIQ_ERR_KEEPALIVE' && l['identity'] === `device acme/${deviceId}`).length;


  it('answers PINGREQs of a device waiting for its PUBACKs, and acknowledges after the stall', async () => {
    const device: MqttClient = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1', keepalive: 1 });
    let pingresps = 0;
    let closed = false;
    device.on('packetreceive', (p) => { if (p.cmd === 'pingresp') pingresps++; });
    device.on('close', () => { closed = true; });
    writer.stall();
    const acks = Array.from({ length: 5 }, () => device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 }));
    let acked = 0;
    for (const a of acks) void a.then(() => acked++, () => undefined);
    await sleep(4000);
    expect(writer.waiting).toBeGreaterThan(0); // the sink really was stalled
    expect(acked).toBe(0);
    expect(pingresps).toBeGreaterThanOrEqual(2);
    expect(closed).toBe(false);
    writer.release();
    await Promise.all(acks);
    expect(await stored('truck-1')).toBe(5);
    expect(closed).toBe(false);
    expect(keepaliveCloses('truck-1')).toBe(0);
    device.end(true);
  });

  it('does not close for keepalive a device it stopped reading, and reads on after the stall', async () => {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-2'));
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'truck-2', keepalive: 1 });
    await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    writer.stall();
    // Far more than the 4 KiB read-ahead: the gateway stops reading this socket, then the client goes quiet.
    const big = () => encode(SENSOR, sensor({ measurements: Array.from({ length: 60 }, (_, i) => ({ name: `measurement-${i}`, value: i, unit: 'Cel' })) }));
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    raw.send(...ids.map((id) => publishPacket('tenants/acme/devices/truck-2/sensor', big(), id)));
    await sleep(4000);
    expect(writer.waiting).toBeGreaterThan(0);
    expect(raw.closed).toBe(false);
    expect(raw.pubacks()).toEqual([]);
    expect(keepaliveCloses('truck-2')).toBe(0);
    writer.release();
    // From here the client pings like any client with a 1 s keepalive; the gateway reads it again and answers.
    const pinger = setInterval(() => raw.send({ cmd: 'pingreq' }), 300);
    try {
      expect(await raw.waitFor(() => raw.pubacks().length === ids.length, 20_000)).toBe(true);
      expect(raw.pubacks()).toEqual(ids);
      expect(await raw.waitFor((ps) => ps.some((p) => p.cmd === 'pingresp'))).toBe(true);
      expect(await stored('truck-2')).toBe(ids.length);
      expect(raw.closed).toBe(false);
      expect(keepaliveCloses('truck-2')).toBe(0);
    } finally {
      clearInterval(pinger);
      raw.end();
    }
  });

  it('still closes a device that goes silent for 1.5 times its keepalive while the gateway reads', async () => {
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_KEEPALIVE');
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-3'));
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'truck-3', keepalive: 1 });
    await raw.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    expect(await raw.waitFor(() => false, 4000)).toBe(false);
    expect(raw.closed).toBe(true);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_KEEPALIVE')).toBeGreaterThan(before);
    expect(keepaliveCloses('truck-3')).toBe(1);
  });
});

describe('a SQLite sink locked by another connection', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => { gw = await startGateway(pki, { limits: { minKeepaliveS: 1 } }); });
  afterAll(async () => { await gw?.gateway.close(); });

  it('keeps a device connected through the lock and acknowledges once it is released', async () => {
    const device: MqttClient = await connect(gw.port, pki.device('acme', 'truck-4'), { clientId: 'truck-4', keepalive: 1 });
    await device.publishAsync('tenants/acme/devices/truck-4/location', encode(VEHICLE, vehicle()), { qos: 1 }); // the database exists
    let pingresps = 0;
    let closed = false;
    device.on('packetreceive', (p) => { if (p.cmd === 'pingresp') pingresps++; });
    device.on('close', () => { closed = true; });
    const locker = new Database(join(pki.baseDir, 'data', 'thingiq.db'));
    locker.exec('BEGIN EXCLUSIVE');
    let acked = 0;
    const acks = Array.from({ length: 3 }, () => device.publishAsync('tenants/acme/devices/truck-4/location', encode(VEHICLE, vehicle()), { qos: 1 }).then(() => acked++));
    await sleep(4000);
    expect(acked).toBe(0); // the lock really held the commit
    expect(pingresps).toBeGreaterThanOrEqual(2);
    expect(closed).toBe(false);
    locker.exec('COMMIT');
    locker.close();
    await Promise.all(acks);
    expect(closed).toBe(false);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-4' })).toBe(4);
    device.end(true);
  });
});
