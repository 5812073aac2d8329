/**
 * Issuing and revoking certificates, the same for devices, apps and operators
 * (device-routes.ts, certificate-routes.ts): one body schema, one audit note
 * and one answer shape whichever identity the route names.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import type { Identity } from '../../identity/identity.ts';
import { normaliseSerial } from '../../pki/issuance-registry.ts';
import type { AdminDeps } from '../admin-deps.ts';
import { publicKeyFromCsr } from '../csr.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { parseInput } from './route.ts';

const IssueBody = z.object({
  /** PEM PKCS#10 request: the caller keeps its private key. Without it the gateway generates a key pair. */
  csr: z.string().min(1).max(64 * 1024).optional(),
  days: z.number().int().min(1).max(825).optional(),
  /** Key type of a generated key pair (without csr): `ec` (P-256) or `rsa` (2048); default config pkiKeyType. */
  keyType: z.enum(['ec', 'rsa']).optional(),
}).strict();
const RevokeBody = z.object({ serial: z.string().regex(/^[0-9a-fA-F]{1,40}$/).optional() }).strict();

/** Issues from a CSR (the private key stays with the caller) or generates a key pair returned once. */
export async function issueCertificate(deps: AdminDeps, request: FastifyRequest, identity: Identity): Promise<Record<string, unknown>> {
  const body = parseInput(IssueBody, request.body);
  const publicKeyPem = body.csr === undefined ? undefined : publicKeyFromCsr(body.csr);
  const issued = await deps.pki.issue(identity, {
    ...(publicKeyPem ? { publicKeyPem } : {}), ...(body.days ? { days: body.days } : {}), ...(body.keyType && !publicKeyPem ? { keyType: body.keyType } : {}),
  }, principalOf(request).actor);
  noteAudit(request, `serial=${issued.serial} ${publicKeyPem ? 'csr' : 'generated'}`);
  return {
    serial: issued.serial, certPem: issued.certPem, caPem: deps.pki.caCertPem,
    notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(),
    // Only for generated keys, and only in this one answer: the gateway does not keep it.
    ...(publicKeyPem ? {} : { keyPem: issued.keyPem }),
  };
}

/** Revokes what matches; an unknown or already revoked serial revokes nothing and says so. */
export async function revokeCertificates(deps: AdminDeps, request: FastifyRequest, match: { serial: string } | { uri: string }): Promise<{ revoked: string[] }> {
  const revoked = await deps.pki.revoke(match, principalOf(request).actor);
  noteAudit(request, `revoked=${revoked.map((r) => r.serial).join(',') || 'none'}`);
  return { revoked: revoked.map((r) => r.serial) };
}

/**
 * Revokes the certificates of one identity of a tenant: all of them, or the
 * one serial the body names, which must be that identity's (else 404).
 */
export async function revokeCertificatesOf(deps: AdminDeps, request: FastifyRequest, tenantId: string, uri: string): Promise<{ revoked: string[] }> {
  const body = parseInput(RevokeBody, request.body);
  if (body.serial !== undefined && !deps.pki.listCertificates(tenantId).some((c) => c.uri === uri && normaliseSerial(c.serial) === normaliseSerial(body.serial!))) {
    throw new TiqError('TIQ_ERR_NOT_FOUND');
  }
  return revokeCertificates(deps, request, body.serial !== undefined ? { serial: body.serial } : { uri });
}
