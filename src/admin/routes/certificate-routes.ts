/**
 * Certificates of apps and operators, and revocation by serial: what
 * `thingiq pki issue|revoke` needs beyond the device routes, so that the CLI
 * changes the PKI through the running gateway like any other caller.
 */
import type { FastifyRequest } from 'fastify';
import { TiqError } from '../../errors.ts';
import { appUri, ID_PATTERN, operatorUri } from '../../identity/identity.ts';
import { issueCertificate, revokeCertificates, revokeCertificatesOf } from './certificate-actions.ts';
import { idsOf, route, type RouteContext } from './route.ts';

const SERIAL = /^[0-9a-fA-F]{1,40}$/;

function param(request: FastifyRequest, name: 'app' | 'operator' | 'serial', pattern: RegExp): string {
  const value = (request.params as Record<string, string | undefined>)[name] ?? '';
  if (!pattern.test(value)) throw new TiqError(name === 'serial' ? 'TIQ_ERR_BAD_REQUEST' : 'TIQ_ERR_INVALID_ID', { problems: [`${name}: must match ${pattern.source}`] });
  return value;
}

export function registerCertificateRoutes({ app, deps }: RouteContext): void {
  route(app, 'POST', '/v1/tenants/:tenant/apps/:app/certificates', { needs: 'tenant-admin', action: 'apps.issue' }, async (request, reply) => {
    const { tenant } = idsOf(request);
    const appId = param(request, 'app', ID_PATTERN);
    reply.code(201);
    return { appId, ...(await issueCertificate(deps, request, { kind: 'app', tenantId: tenant, appId, uri: appUri(tenant, appId) })) };
  });

  route(app, 'POST', '/v1/tenants/:tenant/apps/:app/revoke', { needs: 'tenant-admin', action: 'apps.revoke' }, async (request) => {
    const { tenant } = idsOf(request);
    const appId = param(request, 'app', ID_PATTERN);
    return revokeCertificatesOf(deps, request, tenant, appUri(tenant, appId));
  });

  route(app, 'POST', '/v1/operators/:operator/certificates', { needs: 'operator', action: 'operators.issue' }, async (request, reply) => {
    const name = param(request, 'operator', ID_PATTERN);
    reply.code(201);
    return { operator: name, ...(await issueCertificate(deps, request, { kind: 'operator', operatorName: name, uri: operatorUri(name) })) };
  });

  // Any certificate by serial, whatever its tenant: operators only.
  route(app, 'POST', '/v1/certificates/:serial/revoke', { needs: 'operator', action: 'certificates.revoke' }, async (request) => {
    const serial = param(request, 'serial', SERIAL);
    // Like the device route: an unknown or already revoked serial revokes nothing and says so.
    return revokeCertificates(deps, request, { serial });
  });
}
