/**
 * Devices: registration, certificates (list, issue from a CSR or generate,
 * revoke), restriction of processing and private mode.
 */
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { deviceUri, ID_PATTERN, parseIdentityUri } from '../../identity/identity.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { issueCertificate, revokeCertificatesOf } from './certificate-actions.ts';
import { idsOf, parseInput, route, type RouteContext } from './route.ts';

const RestrictionBody = z.object({ mode: z.enum(['none', 'drop', 'refuse']), reason: z.string().max(500).optional() }).strict();
const PrivateModeBody = z.object({ on: z.boolean() }).strict();
/** Paging for the console's device list (thousands of devices): a page, and a search on the device id. */
const ListQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  q: z.string().max(63).optional(),
}).strict();
const RegisterBody = z.object({ deviceId: z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`), note: z.string().max(500).optional() }).strict();

export function registerDeviceRoutes({ app, deps }: RouteContext): void {
  // Registered devices and devices with certificates: a device may be registered before its first certificate.
  route(app, 'GET', '/v1/tenants/:tenant/devices', { needs: 'tenant-reader', action: 'devices.list' }, async (request) => {
    const { tenant } = idsOf(request);
    const registered = deps.tenantChanges.registeredDevices(tenant);
    const byDevice = new Map<string, object[]>(Object.keys(registered).map((d) => [d, []]));
    for (const c of deps.pki.listCertificates(tenant)) {
      const id = parseIdentityUri(c.uri);
      if (id?.kind !== 'device') continue;
      const list = byDevice.get(id.deviceId) ?? [];
      list.push({ serial: c.serial, status: c.status, notBefore: c.notBefore, notAfter: c.notAfter, issuedAt: c.issuedAt, revokedAt: c.revokedAt ?? null });
      byDevice.set(id.deviceId, list);
    }
    const { offset, limit, q } = parseInput(ListQuery, request.query);
    const ids = [...byDevice.keys()].filter((d) => q === undefined || d.includes(q)).sort((a, b) => a.localeCompare(b));
    const page = ids.slice(offset, limit === undefined ? undefined : offset + limit);
    const devices = page.map((deviceId) => ({
      deviceId, registration: registered[deviceId] ?? null, certificates: byDevice.get(deviceId)!, restriction: deps.restrictions.isRestricted(tenant, deviceId), privateMode: deps.privateMode.isOn(tenant, deviceId),
    }));
    return { devices, total: ids.length, offset };
  });

  route(app, 'POST', '/v1/tenants/:tenant/devices', { needs: 'tenant-admin', action: 'devices.register' }, async (request, reply) => {
    const { tenant } = idsOf(request);
    const { deviceId, note } = parseInput(RegisterBody, request.body);
    if (Object.hasOwn(deps.tenantChanges.registeredDevices(tenant), deviceId)) {
      throw new TiqError('TIQ_ERR_CONFLICT', { problems: [`deviceId: ${deviceId} is already registered`] });
    }
    const registration = { registeredAt: new Date().toISOString(), registeredBy: principalOf(request).actor, ...(note !== undefined ? { note } : {}) };
    await deps.tenantChanges.registerDevice(tenant, deviceId, registration);
    noteAudit(request, `device=${deps.audit.pseudonyms.device(tenant, deviceId)}`);
    reply.code(201);
    return { deviceId, ...registration };
  });

  route(app, 'POST', '/v1/tenants/:tenant/devices/:device/certificates', { needs: 'tenant-admin', action: 'devices.issue' }, async (request, reply) => {
    const { tenant, device } = idsOf(request);
    const issued = await issueCertificate(deps, request, { kind: 'device', tenantId: tenant, deviceId: device, uri: deviceUri(tenant, device) });
    reply.code(201);
    return { deviceId: device, ...issued };
  });

  route(app, 'POST', '/v1/tenants/:tenant/devices/:device/revoke', { needs: 'tenant-admin', action: 'devices.revoke' }, async (request) => {
    const { tenant, device } = idsOf(request);
    return revokeCertificatesOf(deps, request, tenant, deviceUri(tenant, device));
  });

  route(app, 'GET', '/v1/tenants/:tenant/devices/:device/restriction', { needs: 'tenant-reader', action: 'devices.restriction.get' }, async (request) => {
    const { tenant, device } = idsOf(request);
    const r = deps.restrictions.get(tenant, device);
    return { mode: r?.mode ?? 'none', sinceMs: r?.sinceMs ?? null, reason: r?.reason ?? null };
  });

  route(app, 'PUT', '/v1/tenants/:tenant/devices/:device/restriction', { needs: 'tenant-admin', action: 'devices.restriction.set' }, async (request) => {
    const { tenant, device } = idsOf(request);
    const body = parseInput(RestrictionBody, request.body);
    const previous = await deps.restrictions.set(tenant, device, body.mode, principalOf(request).actor, body.reason ?? '');
    noteAudit(request, `mode=${body.mode} previous=${previous}`);
    return { mode: body.mode, previous };
  });

  route(app, 'GET', '/v1/tenants/:tenant/devices/:device/private-mode', { needs: 'tenant-reader', action: 'devices.private-mode.get' }, async (request) => {
    const { tenant, device } = idsOf(request);
    return { on: deps.privateMode.isOn(tenant, device) };
  });

  route(app, 'PUT', '/v1/tenants/:tenant/devices/:device/private-mode', { needs: 'tenant-admin', action: 'devices.private-mode.set' }, async (request) => {
    const { tenant, device } = idsOf(request);
    const { on } = parseInput(PrivateModeBody, request.body);
    const changed = await deps.privateMode.set(tenant, device, on, principalOf(request).actor, 'api');
    noteAudit(request, `on=${on} changed=${changed}`);
    return { on, changed };
  });
}
