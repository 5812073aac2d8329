/** TenantOverrides: staged changes, persistence in the control store, the one-time import of tenants.json, and how they merge over a config. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TenantOverrides, tenantsFileSource } from '../../src/admin/tenant-overrides.ts';
import type { ControlStore } from '../../src/control/control-store.ts';
import { importLegacyFiles } from '../../src/control/legacy-import.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
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

const stores: ControlStore[] = [];
afterEach(async () => { await Promise.all(stores.splice(0).map((s) => s.close())); });
const openStore = async (path: string) => {
  const s = await SqliteControlStore.open({ path });
  stores.push(s);
  return s;
};
const freshPath = () => join(mkdtempSync(join(tmpdir(), 'thingiq-tenants-')), 'control.db');
const fresh = async () => new TenantOverrides(await openStore(freshPath()));

describe('TenantOverrides', () => {
  it('stages without persisting: apply() of the current state is the config unchanged', async () => {
    const o = await fresh();
    const staged = o.withApp('acme', 'reports', { streams: ['sensor'] });
    expect(o.apply(BASE)).toEqual(BASE);
    expect(o.apply(BASE, staged)).toMatchObject({ tenants: { acme: { apps: { reports: { streams: ['sensor'] } } } } });
    expect(o.state).toEqual({});
  });

  it('API wins for the keys it sets; other apps and groups of the config stay', async () => {
    const o = await fresh();
    await o.commit(o.withApp('acme', 'dashboard', { deviceGroups: ['trucks'] }), 'op');
    await o.commit(o.withGroup('acme', 'trucks', ['truck-1', 'truck-2', 'truck-2']), 'op');
    const out = parseConfig(o.apply(BASE));
    expect(out.tenants['acme']?.apps).toEqual({ dashboard: { deviceGroups: ['trucks'] }, legacy: { deviceGroups: ['vans'] } });
    expect(out.tenants['acme']?.deviceGroups).toEqual({ trucks: ['truck-1', 'truck-2'], vans: ['van-1'] });
    expect(out.tenants['globex']?.apps).toEqual({ dashboard: {} });
  });

  it('a deletion is recorded and removes the app or group even though the config has it', async () => {
    const o = await fresh();
    await o.commit(o.withApp('acme', 'legacy', null), 'op');
    await o.commit(o.withGroup('acme', 'vans', null), 'op');
    const out = parseConfig(o.apply(BASE));
    expect(Object.keys(out.tenants['acme']?.apps ?? {})).toEqual(['dashboard']);
    expect(Object.keys(out.tenants['acme']?.deviceGroups ?? {})).toEqual(['trucks']);
    expect(o.state).toMatchObject({ acme: { apps: { legacy: null }, deviceGroups: { vans: null } } });
    // Putting it back undoes the deletion.
    await o.commit(o.withApp('acme', 'legacy', {}), 'op');
    expect(parseConfig(o.apply(BASE)).tenants['acme']?.apps['legacy']).toEqual({});
  });

  it('never mutates the config it is given, and leaves tenants the config lacks out', async () => {
    const o = await fresh();
    await o.commit(o.withApp('initech', 'x', {}), 'op');
    await o.commit(o.withApp('acme', 'legacy', null), 'op');
    const frozen = parseConfig(BASE);
    const out = parseConfig(o.apply(frozen));
    expect(frozen.tenants['acme']?.apps['legacy']).toBeDefined();
    expect(out.tenants['initech']).toBeUndefined();
    expect(o.apply('not a config')).toBe('not a config');
  });

  it('persists in the control store: a second connection reads the same state, and sees later changes', async () => {
    const path = freshPath();
    const o = new TenantOverrides(await openStore(path));
    await o.commit(o.withGroup('acme', 'vans', ['van-1', 'van-2']), 'op');
    await o.commit(o.withDevice('acme', 'truck-7', REGISTRATION), 'op');
    await o.commit(o.withApp('acme', 'legacy', null), 'op');
    const secondStore = await openStore(path);
    const again = new TenantOverrides(secondStore);
    expect(again.state).toEqual(o.state);
    expect(again.devices('acme')).toEqual({ 'truck-7': REGISTRATION });
    expect(again.devices('globex')).toEqual({});
    expect(parseConfig(again.apply(BASE))).toEqual(parseConfig(o.apply(BASE)));
    await o.commit(o.withApp('acme', 'reports', {}), 'op');
    await secondStore.catchUp();
    expect(again.state['acme']?.apps['reports']).toEqual({});
  });

  it('refuses ids outside ID_PATTERN with TIQ_ERR_INVALID_ID', async () => {
    const o = await fresh();
    expect(() => o.withApp('acme', 'Bad App', {})).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
    expect(() => o.withGroup('acme', 'g', ['ok', '../etc'])).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
    expect(() => o.withDevice('ACME', 'd', REGISTRATION)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_INVALID_ID' }));
  });

  it('imports tenants.json once; a corrupt or hand-edited invalid file fails fast with TIQ_ERR_CONFIG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thingiq-tenants-'));
    const adminDir = join(dir, 'admin');
    mkdirSync(adminDir);
    writeFileSync(join(adminDir, 'tenants.json'), JSON.stringify({ version: 1, tenants: { acme: { apps: { legacy: null }, deviceGroups: { vans: ['van-9'] }, devices: { 'truck-7': REGISTRATION } } } }));
    const store = await openStore(join(dir, 'control.db'));
    await importLegacyFiles(store, [tenantsFileSource(adminDir)]);
    const o = new TenantOverrides(store);
    expect(o.state).toEqual({ acme: { apps: { legacy: null }, deviceGroups: { vans: ['van-9'] }, devices: { 'truck-7': REGISTRATION } } });
    // Imported once: a later edit of the file is not read.
    writeFileSync(join(adminDir, 'tenants.json'), JSON.stringify({ version: 1, tenants: { acme: { apps: { other: {} } } } }));
    await importLegacyFiles(store, [tenantsFileSource(adminDir)]);
    expect(Object.keys(new TenantOverrides(store).state['acme']?.apps ?? {})).toEqual(['legacy']);

    for (const text of ['{"version":1,"tenants":{"acme":{"apps":{"a":{"streams":"all"}}}}}', '{not json']) {
      const other = mkdtempSync(join(tmpdir(), 'thingiq-tenants-'));
      writeFileSync(join(other, 'tenants.json'), text);
      await expect(importLegacyFiles(await openStore(join(other, 'control.db')), [tenantsFileSource(other)])).rejects.toMatchObject({ code: 'TIQ_ERR_CONFIG' });
    }
  });
});
