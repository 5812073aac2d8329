/** RetentionPolicy follows device-group changes (reload or admin API) and says when stored records need a reconcile. */
import { describe, expect, it } from 'vitest';
import { RetentionPolicy } from '../../src/retention/retention-policy.ts';
import { TenantRetentionConfigSchema } from '../../src/config/sinks-config.ts';

const retention = TenantRetentionConfigSchema.parse({ deviceGroups: { trucks: { location: { class: 'trucks-90d', days: 90 } } } });
const DEFAULT = { class: 'default-30d', days: 30 };

describe('RetentionPolicy.replaceTenants', () => {
  it('a device added to a group gets the group\'s rule from then on', () => {
    const policy = new RetentionPolicy({ tenants: { acme: { deviceGroups: { trucks: ['truck-1'] }, retention } }, defaultRetention: DEFAULT });
    expect(policy.ruleFor('acme', 'location', 'truck-2')).toEqual(DEFAULT);
    expect(policy.replaceTenants({ acme: { deviceGroups: { trucks: ['truck-1', 'truck-2'] }, retention } })).toBe(true);
    expect(policy.ruleFor('acme', 'location', 'truck-2')).toEqual({ class: 'trucks-90d', days: 90 });
    expect(policy.retagPlan('acme', 'location')[0]?.selection.deviceIds).toEqual(['truck-1', 'truck-2']);
  });

  it('reports no change when groups and retention config are the same, and a change when a group is deleted', () => {
    const policy = new RetentionPolicy({ tenants: { acme: { deviceGroups: { trucks: ['truck-1'] }, retention } }, defaultRetention: DEFAULT });
    expect(policy.replaceTenants({ acme: { deviceGroups: { trucks: ['truck-1'] }, retention } })).toBe(false);
    expect(policy.replaceTenants({ acme: { deviceGroups: {}, retention } })).toBe(true);
    expect(policy.hasDeviceGroup('acme', 'trucks')).toBe(false);
    expect(policy.ruleFor('acme', 'location', 'truck-1')).toEqual(DEFAULT);
  });
});
