/**
 * Liveness, readiness and the OpenAPI document: no credentials needed, so
 * they say only ok or not per probe, never why (details go to the log).
 */
import { openApiDocument } from '../openapi.ts';
import { TiqError } from '../../errors.ts';
import { route, type RouteContext } from './route.ts';

export function registerHealthRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/healthz', { needs: 'public', action: 'health' }, async () => ({ status: 'ok' }));

  route(app, 'GET', '/readyz', { needs: 'public', action: 'ready' }, async (request, reply) => {
    const checks: Record<string, boolean> = {};
    await Promise.all(Object.entries(deps.probes).map(async ([name, probe]) => {
      try {
        const r = await probe();
        checks[name] = r.ok;
        if (!r.ok) request.log.warn({ probe: name, detail: r.detail }, 'readiness probe failed');
      } catch (err) {
        checks[name] = false;
        request.log.warn({ probe: name, err }, 'readiness probe threw');
      }
    }));
    const ok = Object.values(checks).every(Boolean);
    reply.code(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', checks };
  });

  // Operators only: labels name tenants. Prometheus scrapes with an operator certificate or token;
  // scrapes are not audited one by one (quiet), refused ones are.
  route(app, 'GET', '/metrics', { needs: 'operator', action: 'metrics', quiet: true }, async (_request, reply) => {
    if (!deps.metrics) throw new TiqError('TIQ_ERR_NOT_FOUND');
    const m = await deps.metrics();
    reply.header('content-type', m.contentType);
    return m.body;
  });

  route(app, 'GET', '/openapi.json', { needs: 'public', action: 'openapi' }, async () => openApiDocument());
}
