/**
 * Certificates of apps and operators, and revocation by serial: what
 * `thingiq pki issue|revoke` needs beyond the device routes, so that the CLI
 * changes the PKI through the running gateway like any other caller.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { appUri, ID_PATTERN, operatorUri, type Identity } from '../../identity/identity.ts';
import { normaliseSerial } from '../../pki/issuance-registry.ts';
import type { AdminDeps } from '../admin-deps.ts';
import { publicKeyFromCsr } from '../csr.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { idsOf, parseInput, route, type RouteContext } from './route.ts';

const IssueBody = z.object({
  csr: z.string().min(1).max(64 * 1024).optional(),
  days: z.number().int().min(1).max(825).optional(),
  /** Key type of a generated key pair (without csr): `ec` (P-256) or `rsa` (2048); default config pkiKeyType. */
  keyType: z.enum(['ec', 'rsa']).optional(),
}).strict();
const RevokeBody = z.object({ serial: z.string().regex(/^[0-9a-fA-F]{1,40}$/).optional() }).strict();
const SERIAL = /^[0-9a-fA-F]{1,40}$/;

function param(request: FastifyRequest, name: 'app' | 'operator' | 'serial', pattern: RegExp): string {
  const value = (request.params as Record<string, string | undefined>)[name] ?? '';
  if (!pattern.test(value)) throw new TiqError(name === 'serial' ? 'TIQ_ERR_BAD_REQUEST' : 'TIQ_ERR_INVALID_ID', { problems: [`${name}: must match ${pattern.source}`] });
  return value;
}

/** Issues from a CSR (the private key stays with the caller) or generates a key pair returned once. */
async function issue(deps: AdminDeps, request: FastifyRequest, identity: Identity): Promise<Record<string, unknown>> {
  const body = parseInput(IssueBody, request.body);
  const publicKeyPem = body.csr === undefined ? undefined : publicKeyFromCsr(body.csr);
  const issued = await deps.pki.issue(identity, { ...(publicKeyPem ? { publicKeyPem } : {}), ...(body.days ? { days: body.days } : {}), ...(body.keyType && !publicKeyPem ? { keyType: body.keyType } : {}) }, principalOf(request).actor);
  noteAudit(request, `serial=${issued.serial} ${publicKeyPem ? 'csr' : 'generated'}`);
  return {
    serial: issued.serial, certPem: issued.certPem, caPem: deps.pki.caCertPem,
    notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(),
    ...(publicKeyPem ? {} : { keyPem: issued.keyPem }),
  };
}

export function registerCertificateRoutes({ app, deps }: RouteContext): void {
  route(app, 'POST', '/v1/tenants/:tenant/apps/:app/certificates', { needs: 'tenant-admin', action: 'apps.issue' }, async (request, reply) => {
    const { tenant } = idsOf(request);
    const appId = param(request, 'app', ID_PATTERN);
    reply.code(201);
    return { appId, ...(await issue(deps, request, { kind: 'app', tenantId: tenant, appId, uri: appUri(tenant, appId) })) };
  });

  route(app, 'POST', '/v1/tenants/:tenant/apps/:app/revoke', { needs: 'tenant-admin', action: 'apps.revoke' }, async (request) => {
    const { tenant } = idsOf(request);
    const appId = param(request, 'app', ID_PATTERN);
    const body = parseInput(RevokeBody, request.body);
    const uri = appUri(tenant, appId);
    if (body.serial !== undefined && !deps.pki.listCertificates(tenant).some((c) => c.uri === uri && normaliseSerial(c.serial) === normaliseSerial(body.serial!))) {
      throw new TiqError('TIQ_ERR_NOT_FOUND');
    }
    const revoked = await deps.pki.revoke(body.serial !== undefined ? { serial: body.serial } : { uri }, principalOf(request).actor);
    noteAudit(request, `revoked=${revoked.map((r) => r.serial).join(',') || 'none'}`);
    return { revoked: revoked.map((r) => r.serial) };
  });

  route(app, 'POST', '/v1/operators/:operator/certificates', { needs: 'operator', action: 'operators.issue' }, async (request, reply) => {
    const name = param(request, 'operator', ID_PATTERN);
    reply.code(201);
    return { operator: name, ...(await issue(deps, request, { kind: 'operator', operatorName: name, uri: operatorUri(name) })) };
  });

  // Any certificate by serial, whatever its tenant: operators only.
  route(app, 'POST', '/v1/certificates/:serial/revoke', { needs: 'operator', action: 'certificates.revoke' }, async (request) => {
    const serial = param(request, 'serial', SERIAL);
    // Like the device route: an unknown or already revoked serial revokes nothing and says so.
    const revoked = await deps.pki.revoke({ serial }, principalOf(request).actor);
    noteAudit(request, `revoked=${revoked.map((r) => r.serial).join(',') || 'none'}`);
    return { revoked: revoked.map((r) => r.serial) };
  });
}
