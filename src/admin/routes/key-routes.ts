/** Tenant keys: status, rotate, rewrap; per-device shredding is in subject-routes (erasure) and here. */
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { heldNow } from '../admin-deps.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { idsOf, parseInput, route, type RouteContext } from './route.ts';

/** `limit`: one slice of a long re-wrap (the console loops it to show progress); the answer's cursor and `done` say where it stands. */
const RewrapBody = z.object({ afterDekId: z.string().min(1).max(200).optional(), all: z.boolean().optional(), limit: z.number().int().min(1).max(100_000).optional() }).strict();

export function registerKeyRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/tenants/:tenant/keys', { needs: 'tenant-admin', action: 'keys.status' }, async (request) => {
    return deps.keys.status(idsOf(request).tenant);
  });

  route(app, 'POST', '/v1/tenants/:tenant/keys/rotate', { needs: 'tenant-admin', action: 'keys.rotate' }, async (request) => {
    return deps.keys.rotate(idsOf(request).tenant, principalOf(request).actor);
  });

  route(app, 'POST', '/v1/tenants/:tenant/keys/rewrap', { needs: 'tenant-admin', action: 'keys.rewrap' }, async (request) => {
    const body = parseInput(RewrapBody, request.body);
    return deps.keys.rewrap(idsOf(request).tenant, { ...(body.afterDekId ? { afterDekId: body.afterDekId } : {}), ...(body.all ? { all: true } : {}), ...(body.limit ? { limit: body.limit } : {}) });
  });

  // Irreversible and outside a data-subject request: operators only.
  route(app, 'POST', '/v1/tenants/:tenant/devices/:device/keys/shred', { needs: 'operator', action: 'keys.shred' }, async (request) => {
    const { tenant, device } = idsOf(request);
    if (await heldNow(deps.retention, tenant, device)) throw new TiqError('TIQ_ERR_LEGAL_HOLD');
    const receipt = await deps.keys.shred(tenant, device, principalOf(request).actor);
    noteAudit(request, `receipt=${receipt.receiptId} destroyed=${receipt.destroyedCount}`);
    return receipt;
  });
}
