/**
 * Replay and tail through a running gateway whose tenant is pinned to an
 * embedded PostgreSQL sink: the same pages, cursors and follow as on SQLite.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminStream } from '../helpers/admin-call.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const available = await startTestPostgres({ own: true });

describe.skipIf(!available.ok)('replay from a PostgreSQL sink', () => {
  const pki = new TestPki();
  let server: TestPostgres;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  const app = () => { const p = pki.app('globex', 'dashboard'); return { ca: p.ca, cert: p.cert, key: p.key }; };

  beforeAll(async () => {
    if (!available.ok) return;
    server = available.pg;
    gw = await startGateway(pki, {
      tenants: TEST_TENANTS,
      admin: { port: 0, mtlsPort: 0, replaySettleMs: 50, tailPollMs: 50 },
      storage: {
        sinks: { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'postgres', connectionString: await server.newDatabase(), poolSize: 2 } },
        tenantSinks: { globex: 'eu' },
      },
    });
    device = await connect(gw.port, pki.device('globex', 'van-1'), { clientId: 'van-1' });
    for (let i = 0; i < 7; i++) await device.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
  }, 120_000);
  afterAll(async () => {
    device?.end(true);
    await gw?.gateway.close();
    await server?.close();
  });

  it('chains pages of 3 through the 7 stored records, each once, decrypted', async () => {
    const ids: unknown[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const res = await adminCall(gw.gateway.adminPorts.mtlsPort, app(), 'GET', `/v1/tenants/globex/records?limit=3${cursor}`);
      expect(res.status).toBe(200);
      const lines = res.lines();
      const end = lines.pop()!;
      for (const l of lines) {
        expect(typeof (l['data'] as Record<string, unknown>)['latitude']).toBe('number');
        ids.push(l['recordId']);
      }
      cursor = `&cursor=${String(end['nextCursor'])}`;
      if (end['more'] !== true) break;
    }
    expect(ids).toHaveLength(7);
    expect(new Set(ids).size).toBe(7);
    expect(await gw.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex' })).toBe(7);
  });

  it('a tail from the start returns the stored records, then a new one once', async () => {
    const tail = adminStream(gw.gateway.adminPorts.mtlsPort, app(), '/v1/tenants/globex/records/tail?from=0');
    expect(await tail.status).toBe(200);
    await tail.until((ls) => ls.filter((l) => l['type'] === 'record').length >= 7);
    await device.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const lines = await tail.until((ls) => ls.filter((l) => l['type'] === 'record').length >= 8);
    tail.close();
    const ids = lines.filter((l) => l['type'] === 'record').map((l) => l['recordId']);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
