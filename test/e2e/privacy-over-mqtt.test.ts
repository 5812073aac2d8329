/**
 * The privacy policy holds end to end over real mutual TLS: the tenant's
 * subscriber and the logs only ever see policy-applied values, and a changed
 * policy takes effect on the next message without restart.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { connect, sleep, startGateway, subscribe, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };
const DEPOT = { lat: 52.52, lon: 13.405 };

function policy(version: number, location: Record<string, unknown>) {
  return {
    policyId: 'fleet', version,
    defaults: { '*': { action: 'strip' }, location },
    zones: [{ name: 'depot', shape: 'circle', center: DEPOT, radiusM: 300, action: 'drop' }],
  };
}
const COARSE = { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } };

function configWith(privacy: unknown) {
  return { tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, privacy } } };
}

describe('privacy policy over MQTT', () => {
  const pki = new TestPki();
  const configPath = join(pki.baseDir, 'gateway.yaml');
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  let sub: Awaited<ReturnType<typeof subscribe>>;
  const topic = 'tenants/acme/devices/truck-1/location';

  async function send(fields: Record<string, unknown>) {
    const n = sub.received.length;
    await device.publishAsync(topic, encode(VEHICLE, vehicle({ ...EXACT, altitudeM: 35.2, accuracyM: 3, ...fields })), { qos: 1 });
    await sub.next(n + 1, 1500);
    return sub.received.length > n ? decode(VEHICLE, sub.received[n]!.payload) : undefined;
  }

  beforeAll(async () => {
    const base = configWith(policy(1, COARSE));
    writeFileSync(configPath, stringify({ pkiDir: pki.dir, dataDir: `${pki.baseDir}/data`, ...base }));
    gw = await startGateway(pki, base);
    gw.gateway.watchConfig(configPath);
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
    sub = await subscribe(app, 'tenants/acme/#');
  });
  afterAll(async () => {
    device?.end(true);
    await gw?.gateway.close();
  });

  it('coarsens to the grid cell and strips the leaking fields; the stamp says so', async () => {
    const got = await send({});
    expect(got).toBeDefined();
    expect(got!['latitude']).not.toBe(EXACT.latitude);
    expect(Math.abs((got!['latitude'] as number) - EXACT.latitude)).toBeLessThan(0.02);
    for (const f of ['speedMps', 'headingDeg', 'altitudeM', 'accuracyM']) expect(got).not.toHaveProperty(f);
    expect(got!['appliedPolicy']).toEqual({ policyId: 'fleet', version: 1, locationAction: 'coarsen' });
  });

  it('drops a message inside a privacy zone, but acknowledges it', async () => {
    const dropped = await gw.gateway.stats.messageCount('location', 'dropped');
    const got = await send({ latitude: DEPOT.lat, longitude: DEPOT.lon });
    expect(got).toBeUndefined();
    expect(await gw.gateway.stats.messageCount('location', 'dropped')).toBe(dropped + 1);
  });

  it('private mode from the control topic strips location until switched off', async () => {
    await device.publishAsync('tenants/acme/devices/truck-1/control/private-mode', '{"privateMode": true}', { qos: 1 });
    const hidden = await send({});
    expect(hidden).not.toHaveProperty('latitude');
    expect(hidden).not.toHaveProperty('longitude');
    expect(hidden!['appliedPolicy']).toMatchObject({ locationAction: 'strip' });
    await device.publishAsync('tenants/acme/devices/truck-1/control/private-mode', 'off', { qos: 1 });
    expect((await send({}))!['appliedPolicy']).toMatchObject({ locationAction: 'coarsen' });
    expect(gw.logs.events('private_mode').length).toBe(2);
  });

  it('a changed policy file takes effect on the next message; an invalid one is refused and the old stays', async () => {
    writeFileSync(configPath, stringify({ pkiDir: pki.dir, dataDir: `${pki.baseDir}/data`, ...configWith(policy(2, { action: 'strip' })) }));
    const deadline = Date.now() + 5000;
    while (gw.logs.events('config_reloaded').length === 0 && Date.now() < deadline) await sleep(100);
    const got = await send({});
    expect(got!['appliedPolicy']).toEqual({ policyId: 'fleet', version: 2, locationAction: 'strip' });
    expect(got).not.toHaveProperty('latitude');

    const bad = gw.gateway.reload(configWith(policy(3, { action: 'coarsen', coarsen: { method: 'hexagon' } })));
    expect(bad.ok).toBe(false);
    expect((await send({}))!['appliedPolicy']).toMatchObject({ version: 2 });
  });

  it('no log line carries the exact coordinates', () => {
    const text = gw.logs.raw.join('\n');
    expect(text).not.toContain('48.85837');
    expect(text).not.toContain('2.29448');
  });
});
