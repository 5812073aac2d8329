/** Which changes a reload applies and which wait for a restart, with the running values kept. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { keepRunningValues, liveChanges, restartRequiredChanges } from '../../src/config/restart-sections.ts';

const RUNNING = parseConfig({
  mqtt: { port: 8883 },
  storage: { sinks: { default: { type: 'sqlite', path: 'a.db' } } },
  tenants: { acme: { apps: { dash: {} }, keys: { provider: 'local' } }, globex: {} },
});

describe('restart-only sections', () => {
  it('nothing changed: no restart, no live change', () => {
    const same = parseConfig(JSON.parse(JSON.stringify(RUNNING)));
    expect(restartRequiredChanges(RUNNING, same)).toEqual([]);
    expect(liveChanges(RUNNING, keepRunningValues(RUNNING, same))).toEqual([]);
  });

  it('listeners, storage, dataDir and a tenant key provider need a restart; their running values stay, tenants apply', () => {
    const next = parseConfig({
      mqtt: { port: 1883 },
      dataDir: 'elsewhere',
      tenants: { acme: { apps: { dash: {}, ops: {} }, keys: { provider: 'aws-kms', kmsKeyId: 'alias/x' }, quotas: { maxConnections: 5 } }, initech: { keys: { provider: 'aws-kms', kmsKeyId: 'alias/y' } } },
    });
    expect(restartRequiredChanges(RUNNING, next)).toEqual(['dataDir', 'mqtt', 'storage', 'tenants.acme.keys', 'tenants.initech.keys']);
    const kept = keepRunningValues(RUNNING, next);
    expect(kept.mqtt.port).toBe(8883);
    expect(kept.dataDir).toBe('data');
    expect(kept.storage).toEqual(RUNNING.storage);
    expect(kept.tenants['acme']?.keys).toEqual({ provider: 'local' });
    expect(kept.tenants['initech']?.keys).toBeUndefined();
    expect(Object.keys(kept.tenants['acme']?.apps ?? {})).toEqual(['dash', 'ops']);
    expect(kept.tenants['acme']?.quotas).toEqual({ maxConnections: 5 });
    expect(kept.tenants['globex']).toBeUndefined();
    expect(liveChanges(RUNNING, kept)).toEqual(['tenants']);
    expect(Object.isFrozen(kept) && Object.isFrozen(kept.tenants)).toBe(true);
    // Once kept, the same file reports the same pending restart, and no further live change.
    expect(restartRequiredChanges(kept, next)).toEqual(restartRequiredChanges(RUNNING, next));
    expect(liveChanges(kept, keepRunningValues(kept, next))).toEqual([]);
  });
});
