/**
 * A certificate that expires during a session ends it: OpenSSL checks
 * notAfter only in the handshake, so the gateway closes the live connection
 * when notAfter passes. Certificates made per run with a notAfter seconds
 * away, a real mqtt.js device publishing QoS 1, the real SQLite sink.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const DAY = 86_400_000;

/** A notAfter on a whole second at least `ms` ahead: X.509 times have second precision. */
function expiringIn(ms: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Math.ceil((Date.now() + ms) / 1000) * 1000) };
}

/** Resolves with the time the client's connection closed, or undefined if it is still open after `deadline`. */
function closedBy(client: MqttClient, deadline: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    client.once('close', () => resolve(Date.now()));
    setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
}

describe('certificate expiry of live sessions', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];

  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('closes a publishing device at notAfter: what was acknowledged is stored, nothing received after expiry is acknowledged or stored', async () => {
    const validity = expiringIn(8000);
    const notAfterMs = validity.notAfter.getTime();
    const device = await connect(gw.port, pki.device('acme', 'exp-1', validity), { clientId: 'exp-1' });
    clients.push(device);
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_CERT_EXPIRED');
    const closed = closedBy(device, notAfterMs + 5000);
    let open = true;
    device.once('close', () => { open = false; });
    const acked: { sequence: number; sentAt: number }[] = [];
    for (let sequence = 1; open && Date.now() < notAfterMs + 3000; sequence++) {
      const sentAt = Date.now();
      device.publish('tenants/acme/devices/exp-1/location', encode(VEHICLE, vehicle({ sequence })), { qos: 1 }, (err) => {
        if (!err) acked.push({ sequence, sentAt });
      });
      await sleep(100);
    }
    const closedAt = await closed;
    expect(closedAt).toBeDefined();
    expect(closedAt!).toBeGreaterThan(notAfterMs);
    expect(acked.length).toBeGreaterThan(5);
    // A PUBACK means the gateway had the message before notAfter, so it was sent before too.
    expect(acked.filter((a) => a.sentAt > notAfterMs)).toEqual([]);
    const records = await gw.gateway.storage.sinkFor('acme').queryRecords({ tenantId: 'acme', deviceId: 'exp-1', limit: 10_000 });
    expect(records.filter((r) => r.receivedAtMs > notAfterMs)).toEqual([]);
    const stored = new Set(records.map((r) => r.sequence));
    expect(acked.filter((a) => !stored.has(a.sequence))).toEqual([]);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_CERT_EXPIRED')).toBe(before + 1);
    const line = gw.logs.events('cert_expired_disconnect').find((l) => l['identity'] === 'device acme/exp-1');
    expect(line).toMatchObject({ code: 'TIQ_ERR_CERT_EXPIRED', notAfter: validity.notAfter.toISOString() });
  });

  it('closes an application subscriber at notAfter', async () => {
    const validity = expiringIn(6000);
    const app = await connect(gw.port, pki.app('acme', 'dashboard', validity), { clientId: 'dash-exp' });
    clients.push(app);
    await subscribe(app, 'tenants/acme/#');
    const closedAt = await closedBy(app, validity.notAfter.getTime() + 5000);
    expect(closedAt).toBeDefined();
    expect(closedAt!).toBeGreaterThan(validity.notAfter.getTime());
    expect(gw.logs.events('cert_expired_disconnect').some((l) => l['identity'] === 'app acme/dashboard')).toBe(true);
  });

  it('keeps a session whose certificate outlives the largest timer delay (2^31-1 ms, about 24.8 days)', async () => {
    const device = await connect(gw.port, pki.device('acme', 'exp-long', { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 60 * DAY) }), { clientId: 'exp-long' });
    clients.push(device);
    await sleep(1000);
    expect(device.connected).toBe(true);
    await device.publishAsync('tenants/acme/devices/exp-long/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(device.connected).toBe(true);
    expect(gw.logs.events('cert_expired_disconnect').some((l) => l['identity'] === 'device acme/exp-long')).toBe(false);
  });

  it('does not deliver the will of a session that ended because its certificate expired', async () => {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash-watch' });
    clients.push(app);
    const sub = await subscribe(app, 'tenants/acme/devices/exp-will/#');
    const validity = expiringIn(6000);
    const will = { topic: 'tenants/acme/devices/exp-will/location', payload: encode(VEHICLE, vehicle()), qos: 1 as const, retain: false };
    const device = await connect(gw.port, pki.device('acme', 'exp-will', validity), { clientId: 'exp-will', will });
    clients.push(device);
    expect(await closedBy(device, validity.notAfter.getTime() + 5000)).toBeDefined();
    await sleep(500);
    expect(sub.received).toEqual([]);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'exp-will' })).toBe(0);
    expect(gw.logs.events('will_withheld').find((l) => l['identity'] === 'device acme/exp-will')).toMatchObject({ code: 'TIQ_ERR_CERT_EXPIRED' });
  });
});
