/** Privacy policies: the one in force, validation of a candidate, and a preview over posted points. */
import { Writable } from 'node:stream';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { runPreview } from '../../privacy/preview/run-preview.ts';
import { validateTenantPolicies } from '../../privacy/policy-validation.ts';
import type { AdminDeps } from '../admin-deps.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';

const ValidateBody = z.object({ policy: z.unknown() }).strict();
const PreviewBody = z.object({
  /** A candidate policy; absent means the one in force. */
  policy: z.unknown().optional(),
  deviceId: IdSchema,
  stream: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).default('location'),
  points: z.array(z.record(z.string(), z.unknown())).min(1).max(10_000).optional(),
  /** Instead of points: the device's last `last` stored records of the stream, decrypted here (they come back as `before`). */
  stored: z.object({ last: z.number().int().min(1).max(1000) }).strict().optional(),
}).strict().refine((b) => (b.points === undefined) !== (b.stored === undefined), { message: 'exactly one of points and stored' });

/**
 * The device's last `n` stored bodies of a stream, decrypted by the records
 * export (as the policy then in force left them). The whole history is read
 * page by page; only the last n are kept.
 */
async function lastStored(deps: AdminDeps, tenant: string, device: string, stream: string, n: number): Promise<Record<string, unknown>[]> {
  const kept: Record<string, unknown>[] = [];
  let partial = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const row = JSON.parse(line) as { stream?: string; data?: Record<string, unknown> };
        if (row.stream !== stream || !row.data) continue;
        kept.push(row.data);
        if (kept.length > n) kept.shift();
      }
      done();
    },
  });
  await deps.records.exportDevice(tenant, device, out);
  if (kept.length === 0) throw new TiqError('TIQ_ERR_NOT_FOUND');
  return kept;
}

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
    const points = body.points ?? await lastStored(deps, tenant, body.deviceId, body.stream, body.stored!.last);
    if (body.stored) noteAudit(request, `stored=${points.length} device=${deps.audit.pseudonyms.device(tenant, body.deviceId)}`);
    // Points come back transformed; nothing is stored, forwarded or logged.
    const rows = runPreview({ privacy: policy, deviceGroups, tenantId: tenant, deviceId: body.deviceId, stream: body.stream }, points);
    return { rows: rows.map((r) => ({ index: r.index, ...(body.stored ? { before: r.before } : {}), after: r.after ?? null, applied: r.applied, dropReason: r.dropReason ?? null })) };
  });
}
