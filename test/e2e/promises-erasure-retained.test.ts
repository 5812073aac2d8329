/**
 * Erasure leaves nothing readable (docs/keys.md, "What erasure guarantees":
 * an erasure is the admin API's erasure or `keys shred`; docs/privacy.md,
 * "Retained messages": a retained message never outlives its device's
 * erasure). The broker's retained message is a plaintext copy of the
 * device's last position inside the gateway: after a shred by any path (the
 * API's shred route, the CLI through the gateway, or a shred another
 * gateway recorded in the shared control store) a new subscriber must not
 * receive it. Real gateway, mutual TLS, MQTT clients.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordShred } from '../../src/control/shred-tombstone.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { connect, startGateway, subscribe, withSecondControlStore } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('a shredded device\'s retained message is gone', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];

  async function publishRetained(device: string): Promise<void> {
    const c = await connect(gw.port, pki.device('acme', device), { clientId: device });
    clients.push(c);
    await c.publishAsync(`tenants/acme/devices/${device}/location`, encode(VEHICLE, vehicle({ latitude: 52.52, longitude: 13.405 })), { qos: 1, retain: true });
    c.end(true);
  }

  async function retainedFor(device: string): Promise<number> {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: `dash-${clients.length}` });
    clients.push(app);
    const sub = await subscribe(app, `tenants/acme/devices/${device}/location`);
    await sub.next(1, 700);
    app.end(true);
    return sub.received.length;
  }

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('after the API\'s keys shred', async () => {
    await publishRetained('truck-5');
    expect(await retainedFor('truck-5')).toBe(1);
    expect((await adminCall(gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-5/keys/shred')).status).toBe(200);
    expect(await retainedFor('truck-5')).toBe(0);
  });

  it('after a shred another gateway recorded in the shared control store', async () => {
    await publishRetained('truck-6');
    expect(await retainedFor('truck-6')).toBe(1);
    await withSecondControlStore(gw.gateway, (store) => recordShred(store, {
      tenantId: 'acme', deviceId: 'truck-6', receiptId: randomUUID(), destroyedCount: 1, actor: 'operator:elsewhere', destroyedAt: new Date().toISOString(),
    }));
    await vi.waitFor(async () => expect(await retainedFor('truck-6')).toBe(0), { timeout: 5000, interval: 200 });
  });

  it('another device\'s retained message stays', async () => {
    await publishRetained('truck-7');
    expect(await retainedFor('truck-7')).toBe(1);
  });
});
