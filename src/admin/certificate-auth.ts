/**
 * Principals from client certificates on the mTLS listener. OpenSSL has
 * verified chain and validity at the handshake (requestCert and
 * rejectUnauthorized, trust anchor: the gateway's CA only); identifyPeer adds
 * the clientAuth usage, revocation in the issuance registry and the SAN URI.
 * An app certificate stays valid after its app or tenant is deleted, so every
 * request also asks the tenants in force (config file with the API's changes)
 * whether the app still exists: a deleted app or tenant is refused at once,
 * not when its certificate expires.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { identifyPeer } from '../broker/peer-identity.ts';
import { TiqError } from '../errors.ts';
import type { AdminConfig } from '../config/admin-config.ts';
import type { AdminTenants } from './admin-deps.ts';
import type { Principal } from './principal.ts';

export interface CertificateAuthContext {
  readonly caCertPem: string;
  isRevoked(serial: string): boolean;
  readonly appRoles: AdminConfig['appRoles'];
  /** The tenants in force now (after reloads and API changes). */
  readonly tenants: AdminTenants;
}

/** TIQ_ERR_NOT_AUTHORIZED (403) unless the app is configured under an active tenant. */
function checkAppStillConfigured(tenants: AdminTenants, tenantId: string, appId: string): void {
  const tenant = tenants.get(tenantId);
  if (!tenant || !tenant.active || !Object.hasOwn(tenant.apps, appId)) {
    throw new TiqError('TIQ_ERR_NOT_AUTHORIZED', 'the certificate\'s app or tenant is no longer configured');
  }
}

export function createCertificateAuthenticator(ctx: CertificateAuthContext): (socket: TLSSocket) => Principal {
  const ownCa = new X509Certificate(ctx.caCertPem);
  return (socket) => {
    // Defence in depth: the listener refuses unverified peers at the handshake already.
    if (!socket.authorized) throw new TiqError('TIQ_ERR_TLS_HANDSHAKE');
    const { identity } = identifyPeer(socket, { ownCa, externalCa: undefined, isRevoked: (s) => ctx.isRevoked(s) });
    switch (identity.kind) {
      case 'operator':
        return { actor: `operator:${identity.operatorName}`, role: 'operator', tenantId: undefined, via: 'certificate' };
      case 'app':
        checkAppStillConfigured(ctx.tenants, identity.tenantId, identity.appId);
        return {
          actor: `app:${identity.tenantId}/${identity.appId}`,
          role: ctx.appRoles[`${identity.tenantId}/${identity.appId}`] ?? 'tenant-reader',
          tenantId: identity.tenantId,
          via: 'certificate',
          appId: identity.appId,
        };
      case 'device':
        // Devices publish telemetry; they never administer anything.
        throw new TiqError('TIQ_ERR_FORBIDDEN', 'device certificates have no admin role');
    }
  };
}
