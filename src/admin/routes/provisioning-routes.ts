/**
 * Fleet provisioning by claim (src/pki/provisioning.ts). Tenant admins
 * create, list and revoke claims. A device holding only a claim certificate
 * registers on the mTLS listener: it sends its CSR, the device id comes from
 * the path and must fit the claim's template, and it receives its own
 * certificate. The claim certificate is no identity, so the access stage
 * does not authenticate this route (`public`); the handler authenticates the
 * claim itself and audits every attempt with the claim as actor.
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { isTiqError, TiqError } from '../../errors.ts';
import { deviceUri, ID_PATTERN } from '../../identity/identity.ts';
import { checkCsr } from '../../pki/csr-check.ts';
import { claimExpiry, claimOfCertificate, DEVICE_PATTERN, MAX_CLAIM_DAYS, type Claim } from '../../pki/provisioning.ts';
import type { AdminDeps, AdminProvisioning } from '../admin-deps.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';


const CreateBody = z.object({
  claimId: IdSchema,
  deviceIdPattern: z.string().regex(DEVICE_PATTERN, 'a glob over device ids: a-z, 0-9, -, * and ?'),
  deviceGroup: IdSchema.optional(),
  maxDevices: z.number().int().min(1).max(1_000_000),
  /** Until when the claim registers devices: expiresAt, or validDays from now (default 30). */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  validDays: z.number().int().min(1).max(MAX_CLAIM_DAYS).optional(),
  certificateDays: z.number().int().min(1).max(825).default(397),
  /** PEM PKCS#10 request for the claim's key (kept by the device maker); without it a key pair is generated and returned once. */
  csr: z.string().min(1).max(64 * 1024).optional(),
  keyType: z.enum(['ec', 'rsa']).optional(),
}).strict();
const RegisterBody = z.object({ csr: z.string().min(1).max(64 * 1024) }).strict();

function provisioningOf(deps: AdminDeps): AdminProvisioning {
  if (!deps.provisioning) throw new TiqError('TIQ_ERR_NOT_FOUND');
  return deps.provisioning;
}

const view = (c: Claim & { used?: number; status?: string }) => ({
  claimId: c.claimId, deviceIdPattern: c.deviceIdPattern, deviceGroup: c.deviceGroup ?? null, maxDevices: c.maxDevices,
  used: c.used ?? 0, status: c.status ?? 'active', expiresAt: c.expiresAt, certificateDays: c.certificateDays, serial: c.serial,
  createdAt: c.createdAt, createdBy: c.createdBy, revokedAt: c.revokedAt ?? null, revokedBy: c.revokedBy ?? null,
});

export function registerProvisioningRoutes(ctx: RouteContext): void {
  const { app, deps } = ctx;
  route(app, 'POST', '/v1/tenants/:tenant/provisioning/claims', { needs: 'tenant-admin', action: 'provisioning.claims.create' }, async (request, reply) => {
    const { tenant } = idsOf(request);
    const prov = provisioningOf(deps);
    const body = parseInput(CreateBody, request.body);
    const now = Date.now();
    const expiresAt = claimExpiry(body.expiresAt, body.validDays, now);
    if (prov.claims.get(tenant, body.claimId)) throw new TiqError('TIQ_ERR_CONFLICT', { problems: [`claimId: ${body.claimId} exists`] });
    const publicKeyPem = body.csr === undefined ? undefined : checkCsr(body.csr).publicKeyPem;
    const actor = principalOf(request).actor;
    const issued = await prov.issueClaimCertificate(tenant, body.claimId, expiresAt, { ...(publicKeyPem ? { publicKeyPem } : {}), ...(body.keyType ? { keyType: body.keyType } : {}) });
    const claim: Claim = {
      tenantId: tenant, claimId: body.claimId, deviceIdPattern: body.deviceIdPattern, ...(body.deviceGroup ? { deviceGroup: body.deviceGroup } : {}),
      maxDevices: body.maxDevices, expiresAt: expiresAt.toISOString(), certificateDays: body.certificateDays, serial: issued.serial,
      createdAt: new Date(now).toISOString(), createdBy: actor,
    };
    await prov.claims.create(claim, actor);
    noteAudit(request, `claim=${claim.claimId} serial=${issued.serial} max=${claim.maxDevices}`);
    reply.code(201);
    return { ...view(claim), certPem: issued.certPem, caPem: deps.pki.caCertPem, ...(publicKeyPem ? {} : { keyPem: issued.keyPem }) };
  });

  route(app, 'GET', '/v1/tenants/:tenant/provisioning/claims', { needs: 'tenant-reader', action: 'provisioning.claims.list' }, async (request) => {
    const { tenant } = idsOf(request);
    return { claims: provisioningOf(deps).claims.list(tenant).map(view) };
  });

  route(app, 'POST', '/v1/tenants/:tenant/provisioning/claims/:claim/revoke', { needs: 'tenant-admin', action: 'provisioning.claims.revoke' }, async (request) => {
    const { tenant } = idsOf(request);
    const claimId = (request.params as { claim: string }).claim;
    const revoked = await provisioningOf(deps).claims.revoke(tenant, claimId, principalOf(request).actor);
    if (!revoked) throw new TiqError('TIQ_ERR_NOT_FOUND');
    noteAudit(request, `claim=${claimId}`);
    return { claimId, revokedAt: revoked.revokedAt, revokedBy: revoked.revokedBy };
  });

  registerClaimRegistration(ctx);
}

/** The claim a request's TLS peer presents; TIQ_ERR_UNAUTHENTICATED without a verified certificate, TIQ_ERR_IDENTITY when it is no claim. */
function peerClaim(request: FastifyRequest, deps: AdminDeps, ownCa: X509Certificate): { tenantId: string; claimId: string; serial: string } {
  const socket = request.raw.socket as Partial<TLSSocket>;
  // The token listener asks for no certificate: a claim works on the mTLS listener only.
  const cert = socket.authorized === true && typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  if (!cert) throw new TiqError('TIQ_ERR_UNAUTHENTICATED', 'present the claim certificate on the mTLS listener');
  const claim = claimOfCertificate(cert, ownCa, (s) => deps.pki.isRevoked(s));
  if (!claim) throw new TiqError('TIQ_ERR_IDENTITY', 'not a provisioning claim certificate');
  return claim;
}

function pathIds(request: FastifyRequest): { tenant: string; device: string } {
  const { tenant, device } = idsOf(request);
  const problems = [...(ID_PATTERN.test(tenant) ? [] : ['tenant']), ...(ID_PATTERN.test(device) ? [] : ['device'])].map((p) => `${p}: must match ${ID_PATTERN.source}`);
  if (problems.length) throw new TiqError('TIQ_ERR_INVALID_ID', { problems });
  return { tenant, device };
}

function registerClaimRegistration({ app, deps }: RouteContext): void {
  const ownCa = new X509Certificate(deps.pki.caCertPem);
  route(app, 'POST', '/v1/tenants/:tenant/provisioning/devices/:device', { needs: 'public', action: 'provisioning.register' }, async (request, reply) => {
    const prov = provisioningOf(deps);
    const { tenant, device } = pathIds(request);
    let peer: { tenantId: string; claimId: string; serial: string };
    try {
      peer = peerClaim(request, deps, ownCa);
    } catch (err) {
      // Unauthenticated: aggregated per source, as the access stage does, with no caller-chosen names.
      const code = isTiqError(err) ? err.code : 'TIQ_ERR_INTERNAL';
      await deps.audit.aggregator.record(`${request.ip}|anonymous|denied`, { actor: 'anonymous', role: 'none', action: 'provisioning.register', target: '-', tenant: '', result: 'denied', detail: code });
      throw err;
    }
    const actor = `claim:${peer.tenantId}/${peer.claimId}`;
    const entry = { actor, role: 'claim', action: 'provisioning.register', target: `device:${deps.audit.pseudonyms.device(tenant, device)}`, tenant: peer.tenantId };
    // Fail closed, as every change: no registration whose audit entry cannot be written.
    await deps.audit.commit({ ...entry, result: 'started', detail: '' });
    try {
      const result = await register(deps, prov, peer, tenant, device, actor, request.body);
      await deps.audit.commit({ ...entry, result: 'ok', detail: `claim=${peer.claimId} serial=${result.serial}` });
      reply.code(201);
      return result;
    } catch (err) {
      const e = isTiqError(err) ? err : new TiqError('TIQ_ERR_INTERNAL');
      await deps.audit.commit({ ...entry, result: e.httpStatus < 500 ? 'denied' : 'failed', detail: `claim=${peer.claimId} ${e.code}` });
      throw err;
    }
  });
}

async function register(deps: AdminDeps, prov: AdminProvisioning, peer: { tenantId: string; claimId: string; serial: string },
  tenant: string, device: string, actor: string, rawBody: unknown): Promise<Record<string, unknown>> {
  // The claim's own tenant first: a claim of another tenant learns nothing about this one.
  prov.claims.authorize(peer, tenant, device);
  if (!deps.tenants.get(tenant)?.active) throw new TiqError('TIQ_ERR_TENANT_UNKNOWN');
  const { csr } = parseInput(RegisterBody, rawBody);
  const { publicKeyPem } = checkCsr(csr);
  const { claim, issued } = await registerUnderClaim(deps, prov, peer, tenant, device, actor, publicKeyPem);
  return {
    deviceId: device, claimId: claim.claimId, serial: issued.serial, certPem: issued.certPem, caPem: deps.pki.caCertPem,
    notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(),
  };
}

async function registerUnderClaim(deps: AdminDeps, prov: AdminProvisioning, peer: { tenantId: string; claimId: string; serial: string },
  tenant: string, device: string, actor: string, publicKeyPem: string) {
  let issued: Awaited<ReturnType<AdminDeps['pki']['issue']>> | undefined;
  const { claim } = await prov.claims.register(peer, tenant, device, actor, async (c) => {
    // A claim obtains certificates for new devices only: never one for a device that exists.
    const uri = deviceUri(tenant, device);
    if (Object.hasOwn(deps.tenantChanges.registeredDevices(tenant), device) || deps.pki.listCertificates(tenant).some((r) => r.uri === uri && r.status === 'active')) {
      throw new TiqError('TIQ_ERR_CONFLICT', { problems: [`deviceId: ${device} exists`] });
    }
    const group = c.deviceGroup;
    const members = group ? deps.tenants.get(tenant)?.deviceGroups[group] ?? [] : [];
    if (group && !members.includes(device)) await deps.tenantChanges.putDeviceGroup(tenant, group, [...members, device], actor);
    issued = await deps.pki.issue({ kind: 'device', tenantId: tenant, deviceId: device, uri }, { publicKeyPem, days: c.certificateDays }, actor);
    await deps.tenantChanges.registerDevice(tenant, device, { registeredAt: new Date().toISOString(), registeredBy: actor, note: `provisioned by claim ${c.claimId}` });
    return { serial: issued.serial };
  });
  return { claim, issued: issued! };
}
