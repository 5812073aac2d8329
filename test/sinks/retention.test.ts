import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RetentionPolicy, type RetentionPolicyInput } from '../../src/retention/retention-policy.ts';
import { RetentionService } from '../../src/retention/retention-service.ts';
import { RetentionSweeper } from '../../src/retention/retention-sweeper.ts';
import { StorageRouter } from '../../src/sinks/sink-router.ts';
import { StorageConfigSchema, TenantRetentionConfigSchema } from '../../src/config/sinks-config.ts';
import { DAY, T0, record } from './fixtures.ts';

const acmeRetention = TenantRetentionConfigSchema.parse({
  default: { class: 'acme-90d', days: 90 },
  streams: { location: { class: 'location-30d', days: 30 } },
  deviceGroups: { 'eu-fleet': { location: { class: 'location-7d', days: 7 } } },
  legalHold: { devices: ['truck-held'] },
});

const input: RetentionPolicyInput = {
  tenants: {
    acme: { deviceGroups: { 'eu-fleet': ['truck-eu'] }, retention: acmeRetention },
    beta: { retention: TenantRetentionConfigSchema.parse({ legalHold: { tenant: true } }) },
    gamma: {},
  },
  defaultRetention: { class: 'default-365d', days: 365 },
};

function storage(): StorageRouter {
  const dir = mkdtempSync(join(tmpdir(), 'tiq-retention-'));
  const config = StorageConfigSchema.parse({
    sinks: { default: { type: 'sqlite', path: join(dir, 'a.db') }, eu: { type: 'sqlite', path: join(dir, 'eu.db'), durability: 'process' } },
    tenantSinks: { gamma: 'eu' },
  });
  return StorageRouter.fromConfig(config, { dataDir: dir });
}

async function service(router: StorageRouter, now = T0): Promise<RetentionService> {
  const s = new RetentionService(router, new RetentionPolicy(input), { batchSize: 2, knownStreams: ['location', 'sensor'], now: () => now });
  await s.load();
  return s;
}

describe('retention', () => {
  test('tags at ingest: group rule > stream rule > tenant default > storage default; holds by tenant or device', () => {
    const p = new RetentionPolicy(input);
    expect(p.retentionFor('acme', 'location', 'truck-eu', T0)).toEqual({ retentionClass: 'location-7d', expiresAtMs: T0 + 7 * DAY, legalHold: false });
    expect(p.retentionFor('acme', 'location', 'truck-1', T0)).toEqual({ retentionClass: 'location-30d', expiresAtMs: T0 + 30 * DAY, legalHold: false });
    expect(p.retentionFor('acme', 'sensor', 'truck-eu', T0)).toMatchObject({ retentionClass: 'acme-90d', expiresAtMs: T0 + 90 * DAY });
    expect(p.retentionFor('gamma', 'sensor', 'x', T0)).toMatchObject({ retentionClass: 'default-365d', expiresAtMs: T0 + 365 * DAY });
    expect(p.retentionFor('acme', 'sensor', 'truck-held', T0).legalHold).toBe(true);
    expect(p.retentionFor('beta', 'sensor', 'any', T0).legalHold).toBe(true);
  });

  test('a rule change is persisted, re-tags stored records, and overrides config after a restart', async () => {
    const router = storage();
    await router.start();
    const s = await service(router);
    const p = s.policy;
    const recs = ['truck-1', 'truck-2', 'truck-eu'].map((d) => record({ deviceId: d, ...p.retentionFor('acme', 'location', d, T0) }));
    await router.sinkFor('acme').writeBatch(recs);
    const result = await s.setRule({ tenantId: 'acme', stream: 'location', days: 10 });
    expect(result).toEqual({ retentionClass: 'location-10d', retagged: 2 });
    const stored = await router.sinkFor('acme').queryRecords({ tenantId: 'acme' });
    expect(stored.map((r) => [r.deviceId, r.retentionClass, r.expiresAtMs - r.receivedAtMs])).toEqual(expect.arrayContaining([
      ['truck-1', 'location-10d', 10 * DAY], ['truck-2', 'location-10d', 10 * DAY], ['truck-eu', 'location-7d', 7 * DAY],
    ]));
    await router.close();

    // A restart: the same database files opened again, with config that still says 30 days.
    const again = new StorageRouter(router.sinks, { defaultSink: 'default', tenantSinks: { gamma: 'eu' }, batching: StorageConfigSchema.parse({}).batching });
    await again.start();
    const s2 = await service(again);
    expect(s2.policy.retentionFor('acme', 'location', 'truck-1', T0).retentionClass).toBe('location-10d');
    await expect(s2.setRule({ tenantId: 'acme', stream: 'location', days: 0 })).rejects.toMatchObject({ code: 'TIQ_ERR_CONFIG' });
    await expect(s2.setRule({ tenantId: 'acme', stream: 'location', days: 3, deviceGroup: 'nope' })).rejects.toMatchObject({ code: 'TIQ_ERR_CONFIG' });
    await again.close();
  });

  test('legal hold: set and released per device and tenant; the sweep never deletes held records', async () => {
    const router = storage();
    await router.start();
    const s = await service(router, T0 + 400 * DAY);
    const sink = router.sinkFor('acme');
    await sink.writeBatch([record({ deviceId: 'a' }), record({ deviceId: 'b' }), record({ deviceId: 'truck-held' })]);
    expect((await s.setHold({ tenantId: 'acme', deviceId: 'a', held: true })).flagged).toBeGreaterThanOrEqual(1);
    expect((await s.sweep()).deleted).toBe(1);
    expect((await sink.queryRecords({ tenantId: 'acme' })).map((r) => r.deviceId).sort()).toEqual(['a', 'truck-held']);
    await s.setHold({ tenantId: 'acme', held: true });
    await s.setHold({ tenantId: 'acme', deviceId: 'a', held: false });
    expect((await s.sweep()).deleted).toBe(0);
    await s.setHold({ tenantId: 'acme', held: false });
    const report = await s.sweep();
    expect(report).toMatchObject({ deleted: 1, sinks: { default: { deleted: 1 }, eu: { deleted: 0 } } });
    expect((await sink.queryRecords({ tenantId: 'acme' })).map((r) => r.deviceId)).toEqual(['truck-held']);
    await router.close();
  });

  test('pinned tenants write, and keep their rules, in their own sink only', async () => {
    const router = storage();
    await router.start();
    const s = await service(router);
    expect(await router.write(record({ tenantId: 'gamma' }))).toBe('inserted');
    expect(await router.sinks.get('eu')?.countRecords({ tenantId: 'gamma' })).toBe(1);
    expect(await router.sinks.get('default')?.countRecords({ tenantId: 'gamma' })).toBe(0);
    await s.setRule({ tenantId: 'gamma', stream: 'sensor', days: 5 });
    expect(await router.sinks.get('eu')?.listRetentionRules()).toHaveLength(1);
    expect(await router.sinks.get('default')?.listRetentionRules()).toHaveLength(0);
    expect((await router.health()).ok).toBe(true);
    await router.close();
  });

  test('another process changing a rule is picked up by refresh; the sweeper reconciles at start and sweeps on demand', async () => {
    const router = storage();
    await router.start();
    const gateway = await service(router, T0 + 20 * DAY);
    const cli = await service(router, T0 + 20 * DAY);
    // Written with stale tags (as if config changed while the gateway was down).
    await router.sinkFor('acme').writeBatch([record({ deviceId: 'truck-1', retentionClass: 'old', expiresAtMs: T0 + 999 * DAY })]);
    const sweeper = new RetentionSweeper(gateway, { intervalMs: 60_000 });
    await sweeper.start();
    expect((await router.sinkFor('acme').queryRecords({ tenantId: 'acme' }))[0]).toMatchObject({ retentionClass: 'location-30d', expiresAtMs: T0 + 30 * DAY });
    await cli.setRule({ tenantId: 'acme', stream: 'location', days: 1, retentionClass: 'location-1d' });
    // The gateway has not refreshed yet: it still tags with the old rule.
    const stale = gateway.policy.retentionFor('acme', 'location', 'truck-2', T0);
    expect(stale.retentionClass).toBe('location-30d');
    await router.sinkFor('acme').writeBatch([record({ deviceId: 'truck-2', ...stale })]);
    const report = await sweeper.sweepNow();
    expect(report.deleted).toBe(2);
    expect(gateway.policy.retentionFor('acme', 'location', 'truck-2', T0).retentionClass).toBe('location-1d');
    await sweeper.close();
    await router.close();
  });
});
