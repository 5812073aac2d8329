/** The audit log: query and chain verification (operators only: it spans tenants). */
import { z } from 'zod';
import { IdSchema, parseInput, route, type RouteContext } from './route.ts';

const AuditQuery = z.object({
  tenant: IdSchema.optional(),
  action: z.string().max(100).optional(),
  actor: z.string().max(200).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
}).strict();

export function registerAuditRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/audit', { needs: 'operator', action: 'audit.query' }, async (request) => {
    const q = parseInput(AuditQuery, request.query);
    return { entries: await deps.audit.query(q) };
  });

  route(app, 'GET', '/v1/audit/verify', { needs: 'operator', action: 'audit.verify' }, async () => {
    return deps.audit.verify();
  });
}
