import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { runCli } from './run-cli.ts';

describe('thingiq simulate', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  it('issues device certificates and publishes routes and readings that the gateway stores', async () => {
    writeFileSync(join(pki.baseDir, 'sim.yaml'), stringify({ pkiDir: pki.dir, tenants: TEST_TENANTS }));
    const r = await runCli(pki.baseDir, ['--config', 'sim.yaml', 'simulate', '--tenant', 'acme', '--devices', '3', '--rate', '5', '--duration', '2', '--port', String(gw.port)]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout.trim()) as { sent: number; acknowledged: number; errors: number };
    expect(result.sent).toBeGreaterThan(10);
    expect(result.acknowledged).toBe(result.sent);
    const sink = gw.gateway.storage.sinkFor('acme');
    expect(await sink.countRecords({ tenantId: 'acme', stream: 'location' })).toBeGreaterThan(0);
    expect(await sink.countRecords({ tenantId: 'acme', stream: 'sensor' })).toBeGreaterThan(0);
    expect(await sink.countRecords({ tenantId: 'acme' })).toBe(result.sent);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_VALIDATION')).toBe(0);
  });
});
