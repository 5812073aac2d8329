import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { createSink } from '../../src/sinks/sink-registry.ts';
import { StorageConfigSchema, TenantRetentionConfigSchema } from '../../src/config/sinks-config.ts';

describe('storage configuration', () => {
  test('defaults: one fsync SQLite sink under dataDir, batching 256 records, committed at the end of the event-loop turn', () => {
    const c = StorageConfigSchema.parse({});
    expect(c.sinks).toEqual({ default: { type: 'sqlite', path: 'thingiq.db', durability: 'fsync' } });
    expect(c).toMatchObject({ defaultSink: 'default', tenantSinks: {}, batching: { maxBatchRecords: 256, maxBatchDelayMs: 0, maxPendingRecords: 10_000 } });
    expect(c.sweeper.intervalMs).toBe(900_000);
  });

  test('a full gateway config with sinks, residency pin and tenant retention parses', () => {
    const config = parseConfig({
      storage: {
        sinks: { default: { type: 'sqlite' }, eu: { type: 'postgres', connectionString: 'postgresql://u@db.eu/thingiq', durability: 'process' } },
        tenantSinks: { acme: 'eu' },
        batching: { maxBatchRecords: 128, maxBatchDelayMs: 2 },
      },
      tenants: {
        acme: {
          deviceGroups: { fleet: ['truck-1'] },
          retention: { streams: { location: { class: 'location-30d', days: 30 } }, deviceGroups: { fleet: { location: { class: 'location-7d', days: 7 } } }, legalHold: { devices: ['truck-9'] } },
        },
      },
    });
    expect(config.storage?.sinks.eu).toMatchObject({ type: 'postgres', durability: 'process', poolSize: 10 });
    expect(config.storage?.batching).toMatchObject({ maxBatchRecords: 128, maxBatchDelayMs: 2, maxPendingRecords: 10_000 });
    expect(config.tenants.acme?.retention?.legalHold).toEqual({ tenant: false, devices: ['truck-9'] });
  });

  test('every problem is reported at once, with its path', () => {
    const result = StorageConfigSchema.safeParse({
      sinks: { default: { type: 'sqlite', durability: 'sometimes' }, eu: { type: 'postgres' } },
      defaultSink: 'main',
      tenantSinks: { acme: 'us' },
      surprise: true,
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual(expect.arrayContaining(['sinks.default.durability', 'sinks.eu.connectionString']));
    expect(result.error?.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
    const refs = StorageConfigSchema.safeParse({ defaultSink: 'main', tenantSinks: { acme: 'us' } });
    expect(refs.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['defaultSink', 'tenantSinks.acme']);
  });

  test('tenant retention rejects unknown keys, bad class names and non-positive days', () => {
    expect(TenantRetentionConfigSchema.safeParse({ streams: { location: { class: 'Location 30', days: 0 } }, extra: 1 }).error?.issues).toHaveLength(3);
  });

  test('createSink resolves a relative SQLite path under dataDir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tiq-data-'));
    const sink = createSink('default', { type: 'sqlite', path: 'thingiq.db', durability: 'fsync' }, { dataDir });
    expect(sink.type).toBe('sqlite');
    await sink.start();
    expect(existsSync(join(dataDir, 'thingiq.db'))).toBe(true);
    await sink.close();
    expect(createSink('eu', { type: 'postgres', connectionString: 'postgresql://x', durability: 'fsync', poolSize: 1 }).type).toBe('postgres');
  });
});
