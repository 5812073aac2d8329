/**
 * The refusal of stray-tenant-records.test.ts with a PostgreSQL sink on one
 * side of the move: a tenant whose records are in a PostgreSQL sink, pinned
 * to a SQLite sink now, and the reverse. The gateway and the offline CLI
 * refuse to start (TIQ_ERR_CONFIG, naming the tenant and both sinks); a
 * tenant without records may move. Real gateway, real devices over mutual
 * TLS, a real SQLite sink and a real PostgreSQL sink.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TiqError } from '../../src/errors.ts';
import { openStorage } from '../../src/gateway/open-storage.ts';
import { openDataKeyStore } from '../../src/cli/wiring.ts';
import { parseConfig } from '../../src/config/load.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const available = await startTestPostgres();
// A third tenant that never sends anything: it may move freely.
const TENANTS = { ...TEST_TENANTS, initech: {} };

async function refusal(p: Promise<unknown>): Promise<TiqError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TiqError);
  return err as TiqError;
}

function expectProblem(err: TiqError, tenant: string, pinned: string, holding: string): void {
  expect(err.code).toBe('TIQ_ERR_CONFIG');
  const problems = (err.detail as { problems: string[] }).problems;
  expect(problems).toHaveLength(1);
  expect(problems[0]).toContain(`tenant "${tenant}" is stored in sink "${pinned}"`);
  expect(problems[0]).toContain(`has records in sink "${holding}"`);
}

describe.skipIf(!available.ok)('a tenant moved between a PostgreSQL and a SQLite sink while it has records', () => {
  afterAll(async () => { if (available.ok) await available.pg.close(); });

  it('refuses the gateway and the offline CLI both ways, naming the tenant and both sinks; a tenant without records moves', async () => {
    if (!available.ok) return;
    const url = await available.pg.newDatabase();
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    const sinks = { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'postgres', connectionString: url, poolSize: 2 } };
    const storage = (tenantSinks: Record<string, string>) => ({ sinks, tenantSinks });
    const offline = async (name: string, tenantSinks: Record<string, string>): Promise<TiqError[]> => {
      const configFile = join(pki.baseDir, `${name}.yaml`);
      const fileConfig = { pkiDir: pki.dir, dataDir, tenants: TENANTS, storage: storage(tenantSinks) };
      writeFileSync(configFile, stringify(fileConfig));
      return [await refusal(openStorage(configFile)), await refusal(openDataKeyStore(parseConfig(fileConfig)))];
    };

    // acme's record lands in the PostgreSQL sink, globex's in the SQLite one.
    const first = await startGateway(pki, { tenants: TENANTS, storage: storage({ acme: 'eu' }) });
    for (const [tenant, deviceId] of [['acme', 'truck-1'], ['globex', 'van-1']] as const) {
      const device = await connect(first.port, pki.device(tenant, deviceId), { clientId: deviceId });
      await device.publishAsync(`tenants/${tenant}/devices/${deviceId}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
      device.end(true);
    }
    expect(await first.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme' })).toBe(1);
    expect(first.gateway.storage.sinkFor('acme').name).toBe('eu');
    await first.gateway.close();

    // PostgreSQL -> SQLite: acme back on the default sink while its record is in eu.
    expectProblem(await refusal(startGateway(pki, { tenants: TENANTS, storage: storage({}) })), 'acme', 'default', 'eu');
    for (const err of await offline('acme-to-sqlite', {})) expectProblem(err, 'acme', 'default', 'eu');

    // SQLite -> PostgreSQL: globex pinned to eu while its record is in the default sink.
    const reverse = { acme: 'eu', globex: 'eu' };
    expectProblem(await refusal(startGateway(pki, { tenants: TENANTS, storage: storage(reverse) })), 'globex', 'eu', 'default');
    for (const err of await offline('globex-to-postgres', reverse)) expectProblem(err, 'globex', 'eu', 'default');

    // initech has no records anywhere: moving it to eu, or back, is accepted; both tenants' records are where they were.
    for (const tenantSinks of [{ acme: 'eu', initech: 'eu' }, { acme: 'eu' }] as Record<string, string>[]) {
      const again = await startGateway(pki, { tenants: TENANTS, storage: storage(tenantSinks) });
      expect(again.gateway.storage.sinkFor('initech').name).toBe(tenantSinks.initech ?? 'default');
      expect(await again.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-1' })).toBe(1);
      expect(await again.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex', deviceId: 'van-1' })).toBe(1);
      await again.gateway.close();
    }
    // And so does the offline CLI's storage.
    const movedFile = join(pki.baseDir, 'initech-moved.yaml');
    writeFileSync(movedFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TENANTS, storage: storage({ acme: 'eu', initech: 'eu' }) }));
    const opened = await openStorage(movedFile);
    expect(opened.router.sinkNameFor('initech')).toBe('eu');
    await opened.close();
  }, 180_000);
});
