/**
 * `storage.tenantSinks` changed while a tenant had records in its former sink:
 * its access export, erasure, retention rules and legal holds would reach only
 * the new sink, and the old records would escape them all. The gateway and
 * the offline CLI refuse to start on such a configuration (TIQ_ERR_CONFIG,
 * naming the tenant and both sinks) and start again once it is undone.
 * Real gateway, real device over mutual TLS, two real SQLite sinks.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TiqError } from '../../src/errors.ts';
import { openStorage } from '../../src/gateway/open-storage.ts';
import { openDataKeyStore } from '../../src/cli/wiring.ts';
import { parseConfig } from '../../src/config/load.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const SINKS = { default: { type: 'sqlite', path: 'thingiq.db' }, eu: { type: 'sqlite', path: 'eu.db' } };

async function refusal(p: Promise<unknown>): Promise<TiqError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TiqError);
  return err as TiqError;
}

describe('a tenant moved to another sink while it has records', () => {
  it('refuses the gateway and the offline CLI, naming the tenant and both sinks; undone, all starts again', async () => {
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    const storage = (tenantSinks: Record<string, string>) => ({ sinks: SINKS, tenantSinks });

    // acme's first record lands in the default sink.
    const first = await startGateway(pki, { storage: storage({}) });
    const device = await connect(first.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    device.end(true);
    await first.gateway.close();

    // Pinned to eu now: the gateway will not start.
    const moved = await refusal(startGateway(pki, { storage: storage({ acme: 'eu' }) }));
    expect(moved.code).toBe('TIQ_ERR_CONFIG');
    const problems = (moved.detail as { problems: string[] }).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('"acme"');
    expect(problems[0]).toContain('"eu"');
    expect(problems[0]).toContain('"default"');

    // Nor will the offline CLI's storage (records export, retention) or its key store (keys shred).
    const configFile = join(pki.baseDir, 'moved.yaml');
    const fileConfig = { pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS, storage: storage({ acme: 'eu' }) };
    writeFileSync(configFile, stringify(fileConfig));
    expect((await refusal(openStorage(configFile))).code).toBe('TIQ_ERR_CONFIG');
    const keyStore = await refusal(openDataKeyStore(parseConfig(fileConfig)));
    expect(keyStore.code).toBe('TIQ_ERR_CONFIG');

    // Another tenant pinned to eu with no records elsewhere is no problem; acme back where its data is, and all starts.
    const again = await startGateway(pki, { storage: storage({ globex: 'eu' }) });
    expect(await again.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-1' })).toBe(1);
    await again.gateway.close();
  }, 60_000);
});
