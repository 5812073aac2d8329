/** Declaring a route with its access rule, and parsing bodies and queries with zod. */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { z } from 'zod';
import { TiqError } from '../../errors.ts';
import type { AdminConfig } from '../../config/admin-config.ts';
import type { AdminDeps } from '../admin-deps.ts';
import type { RouteAccess } from '../route-access.ts';

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RouteContext {
  readonly app: FastifyInstance;
  readonly deps: AdminDeps;
  /** The admin section in force at start (limits of bodies and device groups). */
  readonly config: AdminConfig;
}

/** `bodyLimit` lowers admin.bodyLimitBytes for a route whose bodies are known to be small. */
export function route(app: FastifyInstance, method: HTTPMethods, url: string, access: RouteAccess, handler: Handler, options: { bodyLimit?: number } = {}): void {
  app.route({ method, url, config: { tiq: access }, handler, ...options });
}

/** Parses with the schema or answers 400 TIQ_ERR_BAD_REQUEST listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new TiqError('TIQ_ERR_BAD_REQUEST', {
    problems: result.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`),
  });
}

/** Route params, validated by the router's :tenant and :device and the id pattern. */
export function idsOf(request: FastifyRequest): { tenant: string; device: string } {
  const p = request.params as { tenant?: string; device?: string };
  return { tenant: p.tenant ?? '', device: p.device ?? '' };
}
