/**
 * Idempotency against real MQTT clients through the real gateway: a device
 * that restarts its sequence counter (reboot, reinstall) loses nothing, while
 * a redelivery of the same message (DUP, or the same bytes re-sent) is stored
 * once, acknowledged, counted as a duplicate and not forwarded a second time.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, VEHICLE } from '../helpers/telemetry.ts';

const at = (deviceId: string) => `tenants/acme/devices/${deviceId}/location`;
const fix = (sequence: number, timeUnixMs: number, latitude = 48.85) => encode(VEHICLE, { timeUnixMs, sequence, latitude, longitude: 2.29 });

describe('idempotency over MQTT', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let app: MqttClient;
  const count = (deviceId: string) => gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId });

  beforeAll(async () => {
    gw = await startGateway(pki);
    app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
  });
  afterAll(async () => {
    app?.end(true);
    await gw?.gateway.close();
  });

  it('a device that reboots and counts from 1 again has every message stored and forwarded', async () => {
    const sub = await subscribe(app, at('truck-1'));
    const storedBefore = await gw.gateway.stats.messageCount('location', 'stored');
    const t0 = Date.now() - 60_000;
    for (const boot of [0, 1]) {
      const device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
      for (let seq = 1; seq <= 5; seq++) await device.publishAsync(at('truck-1'), fix(seq, t0 + boot * 10_000 + seq), { qos: 1 });
      await device.endAsync();
    }
    // Same sequence and same device time after a clock reset, different content: a new message all the same.
    const device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    await device.publishAsync(at('truck-1'), fix(1, t0 + 1, 48.86), { qos: 1 });
    await device.endAsync();

    expect(await count('truck-1')).toBe(11);
    expect((await sub.next(11)).length).toBe(11);
    expect(await gw.gateway.stats.messageCount('location', 'stored')).toBe(storedBefore + 11);
    expect(await gw.gateway.stats.duplicateCount('acme', 'location')).toBe(0);
  });

  it('a QoS 1 redelivery with DUP set is acknowledged, stored once, counted, and not forwarded again', async () => {
    const sub = await subscribe(app, at('truck-2'));
    const storedBefore = await gw.gateway.stats.messageCount('location', 'stored');
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-2'));
    try {
      expect(await raw.connectAs('truck-2')).toBe(0);
      const payload = fix(1, Date.now());
      raw.send({ cmd: 'publish', topic: at('truck-2'), payload, qos: 1, messageId: 7, dup: false, retain: false });
      expect(await raw.waitFor(() => raw.pubacks().length === 1)).toBe(true);
      // The PUBACK was lost, as far as the device knows: it sends the same packet again with DUP.
      raw.send({ cmd: 'publish', topic: at('truck-2'), payload, qos: 1, messageId: 7, dup: true, retain: false });
      expect(await raw.waitFor(() => raw.pubacks().length === 2)).toBe(true);
      expect(raw.pubacks()).toEqual([7, 7]);
      expect(raw.closed).toBe(false);
    } finally {
      raw.end();
    }
    await sleep(300);
    expect(await count('truck-2')).toBe(1);
    expect(sub.received.filter((m) => m.topic === at('truck-2'))).toHaveLength(1);
    expect(await gw.gateway.stats.messageCount('location', 'stored')).toBe(storedBefore + 1);
    expect(await gw.gateway.stats.duplicateCount('acme', 'location')).toBe(1);
    expect(gw.logs.events('publish_duplicate')).toHaveLength(1);
    expect(gw.logs.events('publish_duplicate')[0]).toMatchObject({ level: 20, tenantId: 'acme', stream: 'location', sequence: 1 });
  });

  it('the same message re-sent as a new publish (a device retrying after reconnect) is stored once', async () => {
    const sub = await subscribe(app, at('truck-3'));
    const payload = fix(42, Date.now());
    for (let attempt = 0; attempt < 3; attempt++) {
      const device = await connect(gw.port, pki.device('acme', 'truck-3'), { clientId: 'truck-3' });
      await device.publishAsync(at('truck-3'), payload, { qos: 1 });
      await device.endAsync();
    }
    await sleep(300);
    expect(await count('truck-3')).toBe(1);
    expect(sub.received.filter((m) => m.topic === at('truck-3'))).toHaveLength(1);
    expect(await gw.gateway.stats.duplicateCount('acme', 'location')).toBe(3);
    const metrics = await gw.gateway.stats.registry.metrics();
    expect(metrics).toContain('thingiq_duplicates_total{tenant="acme",stream="location"} 3');
  });
});
