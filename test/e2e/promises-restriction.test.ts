/**
 * Restriction stops processing (README "Restrict processing", GDPR Art. 18;
 * docs/admin.md: "every running gateway applies a change at once from the
 * store's change feed"). The restriction here is committed by another
 * process on the shared control store, and the device then publishes at
 * QoS 0 and QoS 1, retained or not: nothing of it is stored or forwarded,
 * while another device's messages still are. Real gateway, mutual TLS, MQTT.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, startGateway, subscribe, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('a "drop" restriction committed by another process', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];
  const count = (deviceId: string) => gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId });

  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('stops storage and forwarding of every kind of publish; other devices go on', async () => {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
    const truck = await connect(gw.port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' });
    const other = await connect(gw.port, pki.device('acme', 'truck-4'), { clientId: 'truck-4' });
    clients.push(app, truck, other);
    const sub = await subscribe(app, 'tenants/acme/devices/+/location');
    await truck.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sub.next(1);
    expect(await count('truck-2')).toBe(1);

    await withSecondControlStore(gw.gateway, (store) => store.put('restriction', 'acme/truck-2', {
      tenantId: 'acme', deviceId: 'truck-2', mode: 'drop', sinceMs: Date.now(), actor: 'operator:elsewhere', reason: 'Art. 18 request',
    }, 'operator:elsewhere'));
    await vi.waitFor(() => expect(gw.gateway.admin!.restrictions.isRestricted('acme', 'truck-2')).toBe('drop'), { timeout: 2000, interval: 20 });

    const loc = () => encode(VEHICLE, vehicle());
    truck.publish('tenants/acme/devices/truck-2/location', loc(), { qos: 0 });
    await truck.publishAsync('tenants/acme/devices/truck-2/location', loc(), { qos: 1 });
    await truck.publishAsync('tenants/acme/devices/truck-2/location', loc(), { qos: 1, retain: true });
    // A marker from a device that is not restricted: by the time it arrives, the restricted ones would have too.
    await other.publishAsync('tenants/acme/devices/truck-4/location', loc(), { qos: 1 });
    await sub.next(2);
    expect(sub.received.map((r) => r.topic)).toEqual(['tenants/acme/devices/truck-2/location', 'tenants/acme/devices/truck-4/location']);
    expect(await count('truck-2')).toBe(1);
    expect(await count('truck-4')).toBe(1);

    // A new subscriber gets no retained position of the restricted device.
    const late = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash-late' });
    clients.push(late);
    const lateSub = await subscribe(late, 'tenants/acme/devices/truck-2/location');
    await lateSub.next(1, 700);
    expect(lateSub.received).toHaveLength(0);
  });
});
