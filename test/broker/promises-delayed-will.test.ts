/**
 * An MQTT 5 will with a Will Delay Interval is published when the delay has
 * passed, not when the connection ends. What withholds a will (README, "What
 * a message goes through": certificate revoked or expired, device
 * restricted) must hold at that moment too: a device that drops off and is
 * revoked or restricted while its will waits gets no will stored or
 * delivered. Real mutual TLS, mqtt.js (MQTT 5), the admin API, port 0.
 */
import { describe, expect, it } from 'vitest';
import { adminCall } from '../helpers/admin-call.ts';
import { sleep } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const DELAY_S = 2;

describe('a delayed MQTT 5 will', () => {
  const rig = useSubscriberRig();
  const { pki } = rig;
  const op = pki.operator('alice');
  const topicOf = (d: string) => `tenants/acme/devices/${d}/location`;
  const api = (method: string, path: string, body?: unknown) => adminCall(rig.gw.gateway.adminPorts.mtlsPort, op, method, path, body);

  /** Connects a v5 device with a delayed will, then drops the network (no DISCONNECT). */
  async function dropWithDelayedWill(deviceId: string): Promise<ClientPem> {
    const pem = pki.device('acme', deviceId);
    const c = await rig.connect(pem, {
      clientId: deviceId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 },
      will: { topic: topicOf(deviceId), payload: encode(VEHICLE, vehicle()), qos: 1, retain: false, properties: { willDelayInterval: DELAY_S } },
    });
    c.stream.destroy();
    await sleep(200);
    return pem;
  }

  /** Waits past the delay; returns what arrived on the device's topic and what was stored. */
  async function afterDelay(deviceId: string) {
    await sleep(DELAY_S * 1000 + 1200);
    return { delivered: rig.received(topicOf(deviceId)).length, stored: await rig.records(deviceId) };
  }

  it('is delivered and stored once the delay has passed, not before', async () => {
    await dropWithDelayedWill('late-1');
    expect(rig.received(topicOf('late-1'))).toHaveLength(0);
    expect(await afterDelay('late-1')).toEqual({ delivered: 1, stored: 1 });
  });

  it('is withheld when the device\'s certificate is revoked while the will waits', async () => {
    const pem = await dropWithDelayedWill('late-2');
    const res = await api('POST', '/v1/tenants/acme/devices/late-2/revoke', { serial: pem.serial });
    expect(res.status).toBe(200);
    expect(await afterDelay('late-2')).toEqual({ delivered: 0, stored: 0 });
    expect(rig.gw.logs.events('will_withheld').some((l) => l['code'] === 'TIQ_ERR_CERT_REVOKED' && l['identity'] === 'device acme/late-2')).toBe(true);
  });

  it('is withheld when the device is restricted while the will waits', async () => {
    await dropWithDelayedWill('late-3');
    expect((await api('PUT', '/v1/tenants/acme/devices/late-3/restriction', { mode: 'drop' })).status).toBe(200);
    expect(await afterDelay('late-3')).toEqual({ delivered: 0, stored: 0 });
    expect(rig.gw.logs.events('will_withheld').some((l) => l['code'] === 'TIQ_ERR_RESTRICTED' && l['identity'] === 'device acme/late-3')).toBe(true);
  });
});
