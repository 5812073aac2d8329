import { readdirSync, rmSync, writeFileSync } from 'node:fs';
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

  it('a second run continues the sequence numbers, and a run whose counters restart at 1 is stored too', async () => {
    const sink = gw.gateway.storage.sinkFor('acme');
    const run = async () => {
      const before = await sink.countRecords({ tenantId: 'acme', deviceId: 'sim-0001' });
      const r = await runCli(pki.baseDir, ['--config', 'sim.yaml', 'simulate', '--tenant', 'acme', '--devices', '1', '--rate', '5', '--duration', '1', '--port', String(gw.port)]);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout.trim()) as { sent: number; acknowledged: number };
      expect(result.sent).toBeGreaterThan(0);
      expect(result.acknowledged).toBe(result.sent);
      expect(await sink.countRecords({ tenantId: 'acme', deviceId: 'sim-0001' })).toBe(before + result.sent);
    };
    const sequences = async () => (await sink.queryRecords({ tenantId: 'acme', deviceId: 'sim-0001', limit: 10_000 })).map((r) => r.sequence);
    await run();
    const first = await sequences();
    await run();
    const second = (await sequences()).filter((s) => !first.includes(s));
    expect(Math.min(...second)).toBe(Math.max(...first) + 1);

    // A reinstalled simulator (its state gone) starts at 1 again, as a rebooted device does: nothing is discarded.
    const ones = (await sequences()).filter((s) => s === 1).length;
    const dir = join(pki.dir, 'simulator', 'acme');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.seq'))) rmSync(join(dir, f));
    await run();
    expect((await sequences()).filter((s) => s === 1)).toHaveLength(ones + 1);
    expect(await gw.gateway.stats.duplicateCount('acme', 'location')).toBe(0);
  }, 180_000);
});
