/** One span per admin API request, when tracing is configured (the route template, never the URL with its ids). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AdminRequestTrace, GatewayTracer } from '../observability/tracing.ts';

export function traceAdminRequests(app: FastifyInstance, tracer: GatewayTracer): void {
  const open = new WeakMap<FastifyRequest, AdminRequestTrace>();
  app.addHook('onRequest', async (request) => {
    open.set(request, tracer.adminRequest(request.method));
  });
  app.addHook('onResponse', async (request, reply) => {
    open.get(request)?.end(reply.statusCode, request.routeOptions.url);
    open.delete(request);
  });
}
