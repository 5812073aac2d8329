/**
 * Tenants, their apps with grants, and device groups: read from the config in
 * force, changed through TenantOverrides (in force for the next message).
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { ID_PATTERN } from '../../identity/identity.ts';
import type { AdminDeps, TenantView } from '../admin-deps.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { idsOf, parseInput, route, type RouteContext } from './route.ts';

const Id = z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`);
const GrantBody = z.object({
  /** Absent: every stream of the tenant. */
  streams: z.array(z.string().min(1).max(64)).min(1).max(256).optional(),
  /** Absent: every device of the tenant. */
  deviceGroups: z.array(Id).min(1).max(1000).optional(),
  /** Device lifecycle events of the granted devices; absent: none. */
  events: z.boolean().optional(),
}).strict();
const GroupBody = z.object({ devices: z.array(Id).max(100_000) }).strict();

function paramOf(request: FastifyRequest, name: 'app' | 'group'): string {
  const value = (request.params as Record<string, string | undefined>)[name] ?? '';
  if (!ID_PATTERN.test(value)) throw new TiqError('TIQ_ERR_INVALID_ID', { problems: [`${name}: must match ${ID_PATTERN.source}`] });
  return value;
}

/** Streams and groups a grant names must exist for the tenant. */
function grantProblems(t: TenantView, grant: z.infer<typeof GrantBody>): string[] {
  return [
    ...(grant.streams ?? []).filter((s) => !t.streams.includes(s)).map((s) => `streams: ${s} is not a stream of the tenant`),
    ...(grant.deviceGroups ?? []).filter((g) => !Object.hasOwn(t.deviceGroups, g)).map((g) => `deviceGroups: ${g} is not a device group of the tenant`),
  ];
}

/**
 * What still names a device group: grants, the privacy policy in force, stored
 * retention rules. The storage read comes first so that grants and policy are
 * read after the last await, in the same turn as the delete itself.
 */
async function groupReferences(deps: AdminDeps, tenantId: string, group: string): Promise<string[]> {
  const retention = (await deps.retention.describe(tenantId)).rules.filter((r) => r.deviceGroup === group).map((r) => `retention.rules.${r.stream}`);
  const t = deps.tenants.get(tenantId);
  if (!t) return [];
  const grants = Object.entries(t.apps).filter(([, g]) => g.deviceGroups?.includes(group)).map(([app]) => `apps.${app}.deviceGroups`);
  const policy = deps.privacy.policyOf(t.id) as { groups?: unknown } | undefined;
  const rules = Array.isArray(policy?.groups) ? policy.groups as { group?: unknown }[] : [];
  const privacy = rules.flatMap((r, i) => (r.group === group ? [`privacy.groups.${i}`] : []));
  return [...grants, ...privacy, ...retention];
}

/** The admin API's bounds on device groups (admin.maxDeviceGroups, admin.maxGroupDevices). */
function groupLimitProblems(config: RouteContext['config'], t: TenantView, group: string, devices: readonly string[]): string[] {
  const problems: string[] = [];
  if (devices.length > config.maxGroupDevices) problems.push(`devices: ${devices.length} devices, at most ${config.maxGroupDevices} in a group`);
  const groups = Object.keys(t.deviceGroups).length;
  if (!Object.hasOwn(t.deviceGroups, group) && groups >= config.maxDeviceGroups) problems.push(`deviceGroups: the tenant has ${groups} groups, at most ${config.maxDeviceGroups}`);
  return problems;
}

/** A group body: `{"devices": [...]}` with ids of at most 63 characters, quoted and comma-separated. */
const groupBodyLimit = (maxDevices: number) => 1024 + maxDevices * 70;

export function registerTenantRoutes({ app, deps, config }: RouteContext): void {
  const tenantOf = (request: FastifyRequest) => deps.tenants.get(idsOf(request).tenant)!; // the access stage answered 404 otherwise

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
    const t = tenantOf(request);
    // Absent streams or deviceGroups in a grant mean "all of the tenant's" (config schema).
    // `events` only where granted: the answer of a grant without it is as it always was.
    const apps = Object.entries(t.apps).map(([id, g]) => ({ id, streams: g.streams ?? null, deviceGroups: g.deviceGroups ?? null, ...(g.events ? { events: true } : {}) }));
    return { apps, deviceGroups: t.deviceGroups };
  });

  route(app, 'PUT', '/v1/tenants/:tenant/apps/:app', { needs: 'tenant-admin', action: 'apps.put' }, async (request) => {
    const t = tenantOf(request);
    const appId = paramOf(request, 'app');
    const grant = parseInput(GrantBody, request.body);
    const problems = grantProblems(t, grant);
    if (problems.length) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems });
    const created = !Object.hasOwn(t.apps, appId);
    await deps.tenantChanges.putApp(t.id, appId, grant, principalOf(request).actor);
    noteAudit(request, `app=${appId} ${created ? 'created' : 'replaced'}`);
    return { id: appId, streams: grant.streams ?? null, deviceGroups: grant.deviceGroups ?? null, ...(grant.events ? { events: true } : {}), created };
  });

  route(app, 'DELETE', '/v1/tenants/:tenant/apps/:app', { needs: 'tenant-admin', action: 'apps.delete' }, async (request) => {
    const t = tenantOf(request);
    const appId = paramOf(request, 'app');
    if (!Object.hasOwn(t.apps, appId)) throw new TiqError('TIQ_ERR_NOT_FOUND');
    await deps.tenantChanges.deleteApp(t.id, appId, principalOf(request).actor);
    noteAudit(request, `app=${appId}`);
    return { deleted: appId };
  });

  route(app, 'GET', '/v1/tenants/:tenant/device-groups', { needs: 'tenant-reader', action: 'device-groups.list' }, async (request) => {
    const t = tenantOf(request);
    return { deviceGroups: Object.entries(t.deviceGroups).sort(([a], [b]) => a.localeCompare(b)).map(([id, devices]) => ({ id, devices })) };
  });

  route(app, 'PUT', '/v1/tenants/:tenant/device-groups/:group', { needs: 'tenant-admin', action: 'device-groups.put' }, async (request) => {
    const t = tenantOf(request);
    const group = paramOf(request, 'group');
    const { devices } = parseInput(GroupBody, request.body);
    const limits = groupLimitProblems(config, t, group, [...new Set(devices)]);
    if (limits.length) throw new TiqError('TIQ_ERR_GROUP_LIMIT', { problems: limits });
    const created = !Object.hasOwn(t.deviceGroups, group);
    await deps.tenantChanges.putDeviceGroup(t.id, group, devices, principalOf(request).actor);
    noteAudit(request, `group=${group} devices=${devices.length} ${created ? 'created' : 'replaced'}`);
    return { id: group, devices: [...new Set(devices)], created };
  }, { bodyLimit: Math.min(config.bodyLimitBytes, groupBodyLimit(config.maxGroupDevices)) });

  route(app, 'DELETE', '/v1/tenants/:tenant/device-groups/:group', { needs: 'tenant-admin', action: 'device-groups.delete' }, async (request) => {
    const t = tenantOf(request);
    const group = paramOf(request, 'group');
    if (!Object.hasOwn(t.deviceGroups, group)) throw new TiqError('TIQ_ERR_NOT_FOUND');
    const references = await groupReferences(deps, t.id, group);
    if (references.length) throw new TiqError('TIQ_ERR_CONFLICT', { problems: references.map((r) => `${r} still references device group ${group}`) });
    await deps.tenantChanges.deleteDeviceGroup(t.id, group, principalOf(request).actor);
    noteAudit(request, `group=${group}`);
    return { deleted: group };
  });
}
