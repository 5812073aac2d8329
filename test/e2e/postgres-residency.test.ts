/**
 * A tenant pinned to its own PostgreSQL sink (data residency) through the
 * whole gateway: its records and data keys live only there; when that
 * PostgreSQL stops, nothing is acknowledged, and everything commits once it
 * returns. Other tenants keep flowing on the default SQLite sink meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const available = await startTestPostgres({ own: true });

describe.skipIf(!available.ok)('tenant pinned to PostgreSQL', () => {
  const pki = new TestPki();
  let server: TestPostgres;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let globex: MqttClient;
  let acme: MqttClient;

  beforeAll(async () => {
    if (!available.ok) return;
    server = available.pg;
    const url = await server.newDatabase();
    gw = await startGateway(pki, {
      tenants: TEST_TENANTS,
      storage: {
        sinks: { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'postgres', connectionString: url, poolSize: 2 } },
        tenantSinks: { globex: 'eu' },
        batching: { retryInitialMs: 50, retryMaxMs: 200 },
      },
    });
    globex = await connect(gw.port, pki.device('globex', 'van-1'), { clientId: 'van-1' });
    acme = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
  }, 120_000);
  afterAll(async () => {
    globex?.end(true);
    acme?.end(true);
    await gw?.gateway.close();
    await server?.close();
  });

  it('stores the pinned tenant\'s records and data keys in its PostgreSQL sink only', async () => {
    for (let i = 0; i < 5; i++) await globex.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await acme.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const eu = gw.gateway.storage.sinkFor('globex');
    const local = gw.gateway.storage.sinkFor('acme');
    expect(eu.name).toBe('eu');
    expect(await eu.countRecords({ tenantId: 'globex' })).toBe(5);
    expect(await local.countRecords({ tenantId: 'globex' })).toBe(0);
    expect((await eu.listDataKeys('globex')).length).toBeGreaterThan(0);
    expect(await local.listDataKeys('globex')).toEqual([]);
    expect(await local.countRecords({ tenantId: 'acme' })).toBe(1);
  });

  it('while its PostgreSQL is down nothing is acknowledged; others flow; all commits once when it returns', async () => {
    await server.stop();
    let acked = 0;
    for (let seq = 1000; seq < 1010; seq++) {
      globex.publish('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle({ sequence: seq })), { qos: 1 }, (err) => { if (!err) acked++; });
    }
    await acme.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sleep(1500);
    expect(acked).toBe(0);
    expect(gw.gateway.storage.writerFor('globex').state.healthy).toBe(false);
    await server.restart();
    const deadline = Date.now() + 30_000;
    while (acked < 10 && Date.now() < deadline) await sleep(100);
    expect(acked).toBe(10);
    expect(await gw.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex' })).toBe(15);
    expect(gw.logs.events('backpressure').length + gw.logs.raw.filter((l) => l.includes('unavailable') || l.includes('recovered')).length).toBeGreaterThan(0);
  }, 60_000);
});
