/**
 * Device-group lists grow with the fleet, so an admin change must not walk
 * every list again: parsed lists keep their identity, are remembered as
 * checked, and share one membership set; lists not seen before are still
 * checked id by id.
 */
import { describe, expect, it } from 'vitest';
import { idSetOf, isCheckedIdList, sameIdList } from '../../src/config/device-groups.ts';
import { parseConfig } from '../../src/config/load.ts';
import { TiqError } from '../../src/errors.ts';
import { RetentionPolicy } from '../../src/retention/retention-policy.ts';
import { TenantDirectory, appMaySee } from '../../src/broker/tenant-directory.ts';

const raw = (groups: Record<string, unknown>) => ({ tenants: { acme: { deviceGroups: groups, apps: { two: { deviceGroups: ['a', 'b'] }, one: { deviceGroups: ['b'] } } } } });

describe('device-group lists', () => {
  it('a parsed list is frozen, marked checked, and passes through a second parse as the same object', () => {
    const first = parseConfig(raw({ a: ['d-1', 'd-2'], b: ['d-3'] }));
    const a = first.tenants['acme']!.deviceGroups['a']!;
    expect(Object.isFrozen(a)).toBe(true);
    expect(isCheckedIdList(a)).toBe(true);
    const second = parseConfig(raw({ a, b: ['d-3', 'd-4'] }));
    expect(second.tenants['acme']!.deviceGroups['a']).toBe(a);
    expect(second.tenants['acme']!.deviceGroups['b']).toEqual(['d-3', 'd-4']);
  });

  it('a list not seen before is checked id by id, each problem with its path', () => {
    try {
      parseConfig(raw({ a: ['d-1', 'Bad Id', 'd-3'], b: 'not-a-list' }));
      expect.unreachable();
    } catch (err) {
      expect((err as TiqError).code).toBe('TIQ_ERR_CONFIG');
      const problems = (err as TiqError).detail?.['problems'] as string[];
      expect(problems.some((p) => p.startsWith('tenants.acme.deviceGroups.a.1:'))).toBe(true);
      expect(problems.some((p) => p.startsWith('tenants.acme.deviceGroups.b:'))).toBe(true);
    }
  });

  it('an unfrozen list is never taken as checked: changing it in place cannot smuggle an id past the schema', () => {
    const list = ['d-1'];
    expect(isCheckedIdList(list)).toBe(false);
    expect(() => parseConfig(raw({ a: [...list, '../etc'], b: ['d-2'] }))).toThrow(TiqError);
  });

  it('membership sets are built once per list and shared; apps see exactly their groups', () => {
    const config = parseConfig(raw({ a: ['d-1'], b: ['d-2'] }));
    const b = config.tenants['acme']!.deviceGroups['b']!;
    expect(idSetOf(b)).toBe(idSetOf(b));
    const dir = new TenantDirectory(config);
    const two = dir.get('acme')!.apps.get('two')!;
    const one = dir.get('acme')!.apps.get('one')!;
    expect(['d-1', 'd-2', 'd-3'].map((d) => appMaySee(two, d, 'sensor'))).toEqual([true, true, false]);
    expect(['d-1', 'd-2'].map((d) => appMaySee(one, d, 'sensor'))).toEqual([false, true]);
    expect(sameIdList(['x', 'y'], ['x', 'y'])).toBe(true);
    expect(sameIdList(['x', 'y'], ['y', 'x'])).toBe(false);
  });

  it('retention needs a reconcile only when a group that has a rule changes, and picks up the new members', () => {
    const rule = { class: 'short-7d', days: 7 };
    const tenant = (groups: Record<string, readonly string[]>) => ({ deviceGroups: groups, retention: { streams: {}, deviceGroups: { ruled: { location: rule } }, legalHold: { tenant: false, devices: [] } } });
    const ruled = Object.freeze(['d-1']);
    const policy = new RetentionPolicy({ tenants: { acme: tenant({ ruled, other: ['x-1'] }) }, defaultRetention: { class: 'default-30d', days: 30 } });
    expect(policy.ruleFor('acme', 'location', 'd-2').class).toBe('default-30d');
    expect(policy.replaceTenants({ acme: tenant({ ruled, other: ['x-1', 'x-2'] }) })).toBe(false);
    expect(policy.replaceTenants({ acme: tenant({ ruled: ['d-1', 'd-2'], other: ['x-1', 'x-2'] }) })).toBe(true);
    expect(policy.ruleFor('acme', 'location', 'd-2').class).toBe('short-7d');
    expect(policy.ruleFor('acme', 'sensor', 'd-2').class).toBe('default-30d');
  });
});
