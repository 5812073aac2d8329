/** Tenants, their apps with grants, and device groups (read from the config in force). */
import { TiqError } from '../../errors.ts';
import { principalOf } from '../route-access.ts';
import { idsOf, route, type RouteContext } from './route.ts';

export function registerTenantRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/tenants', { needs: 'tenant-reader', action: 'tenants.list' }, async (request) => {
    const p = principalOf(request);
    const ids = deps.tenants.ids().filter((id) => p.role === 'operator' || id === p.tenantId);
    return { tenants: ids.map((id) => ({ id, active: deps.tenants.get(id)?.active ?? false })) };
  });

  route(app, 'GET', '/v1/tenants/:tenant', { needs: 'tenant-reader', action: 'tenants.get' }, async (request) => {
    const t = deps.tenants.get(idsOf(request).tenant);
    if (!t) throw new TiqError('TIQ_ERR_NOT_FOUND');
    return { id: t.id, active: t.active, streams: t.streams, deviceGroups: t.deviceGroups, privacyPolicy: deps.privacy.inForce(t.id) ?? null };
  });

  route(app, 'GET', '/v1/tenants/:tenant/apps', { needs: 'tenant-reader', action: 'apps.list' }, async (request) => {
    const t = deps.tenants.get(idsOf(request).tenant)!;
    // Absent streams or deviceGroups in a grant mean "all of the tenant's" (config schema).
    const apps = Object.entries(t.apps).map(([id, g]) => ({ id, streams: g.streams ?? null, deviceGroups: g.deviceGroups ?? null }));
    return { apps, deviceGroups: t.deviceGroups };
  });
}
