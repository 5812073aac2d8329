/** TenantOverrides: staged changes, atomic persistence, reload from disk, and how they merge over a config. */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TenantOverrides } from '../../src/admin/tenant-overrides.ts';
import { parseConfig } from '../../src/config/load.ts';

const BASE = {
  dataDir: 'data',
  tenants: {
    acme: {
      deviceGroups: { trucks: ['truck-1'], vans: ['van-1'] },
      apps: { dashboard: {}, legacy: { deviceGroups: ['vans'] } },
    },
    globex: { apps: { dashboard: {} } },
  },
};
const REGISTRATION = { registeredAt: '2025-01-02T03:04:05.000Z', registeredBy: 'operator:olga', note: 'bay 4' };

const fresh = () => new TenantOverrides(join(mkdtempSync(join(tmpdir(), 'thingiq-tenants-')), 'admin'));

describe('TenantOverrides', () => {
  it('stages without persisting: apply() of the current state is the config unchanged', () => {
    const o = fresh();
    const staged = o.withApp('acme', 'reports', { streams: ['sensor'] });
    expect(o.apply(BASE)).toEqual(BASE);
    expect(o.apply(BASE, staged)).toMatchObject({ tenants: { acme: { apps: { reports: { streams: ['sensor'] } } } } });
    expect(() => statSync(o.path)).toThrow();
  });

  it('API wins for the keys it sets; other apps and groups of the config stay', () => {
    const o = fresh();
    o.commit(o.withApp('acme', 'dashboard', { deviceGroups: ['trucks'] }));
    o.commit(o.withGroup('acme', 'trucks', ['truck-1', 'truck-2', 'truck-2']));
    const out = parseConfig(o.apply(BASE));
    expect(out.tenants['acme']?.apps).toEqual({ dashboard: { deviceGroups: ['trucks'] }, legacy: { deviceGroups: ['vans'] } });
    expect(out.tenants['acme']?.deviceGroups).toEqual({ trucks: ['truck-1', 'truck-2'], vans: ['van-1'] });
    expect(out.tenants['globex']?.apps).toEqual({ dashboard: {} });
  });

  it('a deletion is recorded and removes the app or group even though the config has it', () => {
    const o = fresh();
    o.commit(o.withApp('acme', 'legacy', null));
    o.commit(o.withGroup('acme', 'vans', null));
    const out = parseConfig(o.apply(BASE));
    expect(Object.keys(out.tenants['acme']?.apps ?? {})).toEqual(['dashboard']);
    expect(Object.keys(out.tenants['acme']?.deviceGroups ?? {})).toEqual(['trucks']);
    expect(JSON.parse(readFileSync(o.path, 'utf8'))).toMatchObject({ tenants: { acme: { apps: { legacy: null }, deviceGroups: { vans: null } } } });
    // Putting it back undoes the deletion.
    o.commit(o.withApp('acme', 'legacy', {}));
    expect(parseConfig(o.apply(BASE)).tenants['acme']?.apps['legacy']).toEqual({});
  });

  it('never mutates the config it is given, and leaves tenants the config lacks out', () => {
    const o = fresh();
    o.commit(o.withApp('initech', 'x', {}));
    o.commit(o.withApp('acme', 'legacy', null));
    const frozen = parseConfig(BASE);
    const out = parseConfig(o.apply(frozen));
    expect(frozen.tenants['acme']?.apps['legacy']).toBeDefined();
    expect(out.tenants['initech']).toBeUndefined();
    expect(o.apply('not a config')).toBe('not a config');
  });

  it('persists with mode 0600 and a new instance reads the same state back', () => {
    const o = fresh();
    o.commit(o.withGroup('acme', 'vans', ['van-1', 'van-2']));
    o.commit(o.withDevice('acme', 'truck-7', REGISTRATION));
    o.commit(o.withApp('acme', 'legacy', null));
    expect(statSync(o.path).mode & 0o777).toBe(0o600);
    const again = new TenantOverrides(o.dir);
    expect(again.state).toEqual(o.state);
    expect(again.devices('acme')).toEqual({ 'truck-7': REGISTRATION });
    expect(again.devices('globex')).toEqual({});
    expect(parseConfig(again.apply(BASE))).toEqual(parseConfig(o.apply(BASE)));
  });

  it('refuses ids outside ID_PATTERN with TIQ_ERR_INVALID_ID', () => {
    const o = fresh();
    expect(() => o.withApp('acme', 'Bad App', {})).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
    expect(() => o.withGroup('acme', 'g', ['ok', '../etc'])).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
    expect(() => o.withDevice('ACME', 'd', REGISTRATION)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
  });

  it('a corrupt or hand-edited invalid file fails fast with TIQ_ERR_CONFIG', () => {
    const o = fresh();
    o.commit(o.withApp('acme', 'a', {}));
    writeFileSync(o.path, '{"version":1,"tenants":{"acme":{"apps":{"a":{"streams":"all"}}}}}');
    expect(() => new TenantOverrides(o.dir)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CONFIG' }));
    writeFileSync(o.path, '{not json');
    expect(() => new TenantOverrides(o.dir)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CONFIG' }));
  });
});
