/**
 * One span per admin API request, when tracing is configured, refused ones
 * included: it is made when the response is sent, back-dated to the
 * request's arrival, so no hook has to run before access control. It names
 * the route template, never the URL with its ids.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayTracer } from '../observability/tracing.ts';

export function traceAdminRequests(app: FastifyInstance, tracer: GatewayTracer): void {
  app.addHook('onResponse', async (request, reply) => {
    const endMs = performance.timeOrigin + performance.now();
    tracer.adminRequest(request.method, endMs - reply.elapsedTime).end(reply.statusCode, request.routeOptions.url, endMs);
  });
}
