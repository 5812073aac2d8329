/**
 * A subscriber that stops reading is disconnected within limits.drainTimeoutMs
 * or limits.maxOutboundBufferBytes (TIQ_ERR_SLOW_CONSUMER, counted and
 * logged), and never holds up the tenant's publishers or its other subscribers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, sensor, SENSOR } from '../helpers/telemetry.ts';

const MESSAGES = 3000;

/** About 2.5 KB: the stalled app's kernel buffers fill after a few thousand. */
function bigReading(): Buffer {
  return encode(SENSOR, sensor({ measurements: Array.from({ length: 60 }, (_, i) => ({ name: `measurement-${i}`, value: i, unit: 'Cel' })) }));
}

describe('a subscriber that stops reading', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(pki, {
      limits: {
        maxOutboundBufferBytes: 256 * 1024, drainTimeoutMs: 2000,
        tenantDefaults: { devicePublishesPerSecond: 100_000, devicePublishBurst: 100_000 },
      },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('is disconnected with TIQ_ERR_SLOW_CONSUMER while publishers and healthy subscribers go on', { timeout: 90_000 }, async () => {
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_SLOW_CONSUMER');
    const stalled = await RawMqtt.open(gw.port, pki.app('acme', 'dashboard'));
    expect(await stalled.connectAs('stalled-view')).toBe(0);
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'tenants/acme/#', qos: 1 }] });
    expect(await stalled.waitFor((ps) => ps.some((p) => p.cmd === 'suback'))).toBe(true);
    stalled.socket.pause(); // the app stops reading; its socket stays open

    const healthyApp = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'healthy-view' });
    clients.push(healthyApp);
    const healthy = await subscribe(healthyApp, 'tenants/acme/#');
    const device = await connect(gw.port, pki.device('acme', 'sensor-1'), { clientId: 'sensor-1' });
    clients.push(device);

    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < MESSAGES; i++) acks.push(device.publishAsync('tenants/acme/devices/sensor-1/sensor', bigReading(), { qos: 1 }));
    // Every publish is acknowledged: on the landed code they stalled until aedes's 60 s drain timeout.
    await Promise.all(acks);
    expect(await healthy.next(MESSAGES, 30_000)).toHaveLength(MESSAGES);

    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && await gw.gateway.stats.refusalCount('TIQ_ERR_SLOW_CONSUMER') === before) await new Promise((r) => setTimeout(r, 50));
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_SLOW_CONSUMER')).toBe(before + 1);
    const lines = gw.logs.events('connection_closed').filter((l) => l['code'] === 'TIQ_ERR_SLOW_CONSUMER');
    expect(lines.map((l) => l['identity'])).toEqual(['app acme/dashboard']);
    // The healthy ones are still connected.
    expect(healthyApp.connected && device.connected).toBe(true);
    await device.publishAsync('tenants/acme/devices/sensor-1/sensor', bigReading(), { qos: 1 });
    expect(await healthy.next(MESSAGES + 1)).toHaveLength(MESSAGES + 1);
    stalled.end();
  });
});
