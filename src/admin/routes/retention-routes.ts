/** Retention rules (re-tag what is stored) and legal holds. */
import { z } from 'zod';
import { noteAudit, principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';

const Id = IdSchema;
const RuleBody = z.object({
  stream: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  days: z.number().int().min(1).max(36_500),
  retentionClass: Id.optional(),
  deviceGroup: Id.optional(),
}).strict();
const HoldBody = z.object({ deviceId: Id.optional(), held: z.boolean() }).strict();

export function registerRetentionRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/tenants/:tenant/retention', { needs: 'tenant-reader', action: 'retention.get' }, async (request) => {
    return deps.retention.describe(idsOf(request).tenant);
  });

  route(app, 'PUT', '/v1/tenants/:tenant/retention/rules', { needs: 'tenant-admin', action: 'retention.rule.set' }, async (request) => {
    const { tenant } = idsOf(request);
    const body = parseInput(RuleBody, request.body);
    const result = await deps.retention.setRule({ tenantId: tenant, ...body, actor: principalOf(request).actor });
    noteAudit(request, `stream=${body.stream} days=${body.days} retagged=${result.retagged}`);
    return result;
  });

  // Legal holds are an operator's decision: a tenant must not lift a hold placed on its own data.
  route(app, 'PUT', '/v1/tenants/:tenant/legal-holds', { needs: 'operator', action: 'retention.hold.set' }, async (request) => {
    const { tenant } = idsOf(request);
    const body = parseInput(HoldBody, request.body);
    const result = await deps.retention.setHold({ tenantId: tenant, held: body.held, actor: principalOf(request).actor, ...(body.deviceId ? { deviceId: body.deviceId } : {}) });
    const subject = body.deviceId ? deps.audit.pseudonyms.device(tenant, body.deviceId) : 'tenant';
    noteAudit(request, `held=${body.held} subject=${subject} flagged=${result.flagged}`);
    return result;
  });

  route(app, 'GET', '/v1/retention/sweeper', { needs: 'operator', action: 'retention.sweeper' }, async () => {
    const status = deps.retention.sweeperStatus?.() ?? { intervalMs: undefined, lastSweep: undefined };
    const last = status.lastSweep;
    return {
      intervalMs: status.intervalMs ?? null,
      lastSweep: last ? { ...last, at: new Date(last.atMs).toISOString() } : null,
      nextSweepAt: last && status.intervalMs ? new Date(last.atMs + status.intervalMs).toISOString() : null,
    };
  });

  // Held records are never deleted: the sinks skip every record flagged with a legal hold.
  route(app, 'POST', '/v1/retention/sweep', { needs: 'operator', action: 'retention.sweep' }, async (request) => {
    const result = await deps.retention.sweep();
    noteAudit(request, `deleted=${result.deleted} partitions=${result.partitionsDropped}`);
    return result;
  });
}
