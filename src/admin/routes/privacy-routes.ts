/** Privacy policies: the one in force, validation of a candidate, and a preview over posted points. */
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { runPreview } from '../../privacy/preview/run-preview.ts';
import { validateTenantPolicies } from '../../privacy/policy-validation.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';

const ValidateBody = z.object({ policy: z.unknown() }).strict();
const PreviewBody = z.object({
  /** A candidate policy; absent means the one in force. */
  policy: z.unknown().optional(),
  deviceId: IdSchema,
  stream: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).default('location'),
  points: z.array(z.record(z.string(), z.unknown())).min(1).max(10_000),
}).strict();

export function registerPrivacyRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/tenants/:tenant/privacy-policy', { needs: 'tenant-reader', action: 'privacy.get' }, async (request) => {
    const { tenant } = idsOf(request);
    return { inForce: deps.privacy.inForce(tenant) ?? null, policy: deps.privacy.policyOf(tenant) ?? null };
  });

  route(app, 'PUT', '/v1/tenants/:tenant/privacy-policy', { needs: 'tenant-admin', action: 'privacy.put' }, async (request) => {
    const { tenant } = idsOf(request);
    const { policy } = parseInput(ValidateBody, request.body);
    const inForce = await deps.privacy.put(tenant, policy, principalOf(request).actor);
    noteAudit(request, `policy=${inForce.policyId}@${inForce.policyVersion}`);
    return { inForce };
  });

  route(app, 'POST', '/v1/tenants/:tenant/privacy-policy/validate', { needs: 'tenant-admin', action: 'privacy.validate' }, async (request) => {
    const { tenant } = idsOf(request);
    const { policy } = parseInput(ValidateBody, request.body);
    const deviceGroups = deps.tenants.get(tenant)!.deviceGroups;
    const { problems } = validateTenantPolicies({ [tenant]: { privacy: policy, deviceGroups } });
    noteAudit(request, `valid=${problems.length === 0}`);
    return { valid: problems.length === 0, problems };
  });

  route(app, 'POST', '/v1/tenants/:tenant/privacy-policy/preview', { needs: 'tenant-admin', action: 'privacy.preview' }, async (request) => {
    const { tenant } = idsOf(request);
    const body = parseInput(PreviewBody, request.body);
    const deviceGroups = deps.tenants.get(tenant)!.deviceGroups;
    const policy = body.policy ?? deps.privacy.policyOf(tenant);
    const { problems } = validateTenantPolicies({ [tenant]: { privacy: policy, deviceGroups } });
    if (problems.length > 0) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems });
    // Points the caller posted come back transformed; nothing is stored, forwarded or logged.
    const rows = runPreview({ privacy: policy, deviceGroups, tenantId: tenant, deviceId: body.deviceId, stream: body.stream }, body.points);
    return { rows: rows.map((r) => ({ index: r.index, after: r.after ?? null, applied: r.applied, dropReason: r.dropReason ?? null })) };
  });
}
