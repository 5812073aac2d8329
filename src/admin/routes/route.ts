/** Declaring a route with its access rule, and parsing bodies and queries with zod. */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import type { AdminConfig } from '../../config/admin-config.ts';
import { ID_PATTERN, ID_PROBLEM } from '../../identity/identity.ts';
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

/** Every id in a body (tenants, devices, apps, groups, classes, purposes): the pattern of issuance. */
export const IdSchema = z.string().regex(ID_PATTERN, ID_PROBLEM);

/**
 * Parses with the schema or answers 400 listing every problem: TIQ_ERR_INVALID_ID
 * when an id fails its pattern (the same code as in a path), else TIQ_ERR_BAD_REQUEST.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const invalidId = result.error.issues.some((i) => i.message === ID_PROBLEM);
  throw new TiqError(invalidId ? 'TIQ_ERR_INVALID_ID' : 'TIQ_ERR_BAD_REQUEST', {
    problems: result.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`),
  });
}

/** Route params, validated by the access stage against the id pattern (route-access.ts). */
export function idsOf(request: FastifyRequest): { tenant: string; device: string } {
  const p = request.params as { tenant?: string; device?: string };
  return { tenant: p.tenant ?? '', device: p.device ?? '' };
}
