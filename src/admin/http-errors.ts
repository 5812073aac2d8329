/**
 * Every error answer is `{code, message}` with a code from the catalogue
 * (src/errors.ts), plus `problems` for validation failures. Unknown errors
 * become TIQ_ERR_INTERNAL without their message: internals never leak.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE, isTiqError, TiqError, type ErrorCode } from '../errors.ts';
import { rememberErrorCode } from './route-access.ts';

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  readonly problems?: readonly string[];
}

export function errorBody(err: TiqError): ErrorBody {
  const problems = err.detail?.['problems'];
  // Not-found never carries detail: it must read the same whether or not the object exists.
  const message = err.code === 'TIQ_ERR_NOT_FOUND' ? ERROR_CATALOGUE.TIQ_ERR_NOT_FOUND.message : err.message.slice(err.code.length + 2);
  return { code: err.code, message, ...(Array.isArray(problems) ? { problems: problems as string[] } : {}) };
}

function toHttpError(err: unknown): TiqError {
  if (isTiqError(err)) return err;
  const status = (err as FastifyError).statusCode;
  if (status === 413) return new TiqError('TIQ_ERR_BODY_TOO_LARGE');
  // Fastify's own 4xx (bad JSON, unsupported media type, body too large).
  if (status !== undefined && status >= 400 && status < 500) return new TiqError('TIQ_ERR_BAD_REQUEST', (err as FastifyError).code ?? 'malformed request');
  return new TiqError('TIQ_ERR_INTERNAL', undefined, { cause: err });
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const e = toHttpError(err);
    if (e.code === 'TIQ_ERR_INTERNAL') request.log.error({ err }, 'admin request failed');
    rememberErrorCode(request, e.code);
    if (e.code === 'TIQ_ERR_MFA_REQUIRED') reply.header('www-authenticate', 'Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required"');
    else if (e.httpStatus === 401) reply.header('www-authenticate', 'Bearer');
    return reply.code(e.httpStatus).send(errorBody(e));
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody(new TiqError('TIQ_ERR_NOT_FOUND'))));
}
