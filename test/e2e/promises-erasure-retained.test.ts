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
import { describe, expect, it, vi } from 'vitest';
import { recordShred } from '../../src/control/shred-tombstone.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { withSecondControlStore } from '../helpers/gateway.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';

describe('a shredded device\'s retained message is gone', () => {
  const rig = useSubscriberRig({ filter: null });
  const { pki } = rig;
  const op = pki.operator('alice');
  const publishRetained = (device: string) => rig.publishRetained(device, { latitude: 52.52, longitude: 13.405 });
  const retainedFor = async (device: string) => (await rig.retainedFor(device)).length;

  it('after the API\'s keys shred', async () => {
    await publishRetained('truck-5');
    expect(await retainedFor('truck-5')).toBe(1);
    expect((await adminCall(rig.gw.gateway.adminPorts.mtlsPort, op, 'POST', '/v1/tenants/acme/devices/truck-5/keys/shred')).status).toBe(200);
    expect(await retainedFor('truck-5')).toBe(0);
  });

  it('after a shred another gateway recorded in the shared control store', async () => {
    await publishRetained('truck-6');
    expect(await retainedFor('truck-6')).toBe(1);
    await withSecondControlStore(rig.gw.gateway, (store) => recordShred(store, {
      tenantId: 'acme', deviceId: 'truck-6', receiptId: randomUUID(), destroyedCount: 1, actor: 'operator:elsewhere', destroyedAt: new Date().toISOString(),
    }));
    await vi.waitFor(async () => expect(await retainedFor('truck-6')).toBe(0), { timeout: 5000, interval: 200 });
  });

  it('another device\'s retained message stays', async () => {
    await publishRetained('truck-7');
    expect(await retainedFor('truck-7')).toBe(1);
  });
});
