/**
 * Principals from client certificates on the mTLS listener. OpenSSL has
 * verified chain and validity at the handshake (requestCert and
 * rejectUnauthorized, trust anchor: the gateway's CA only); identifyPeer adds
 * the clientAuth usage, revocation in the issuance registry and the SAN URI.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { identifyPeer } from '../broker/peer-identity.ts';
import { TiqError } from '../errors.ts';
import type { AdminConfig } from '../config/admin-config.ts';
import type { Principal } from './principal.ts';

export interface CertificateAuthContext {
  readonly caCertPem: string;
  isRevoked(serial: string): boolean;
  readonly appRoles: AdminConfig['appRoles'];
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
        return {
          actor: `app:${identity.tenantId}/${identity.appId}`,
          role: ctx.appRoles[`${identity.tenantId}/${identity.appId}`] ?? 'tenant-reader',
          tenantId: identity.tenantId,
          via: 'certificate',
        };
      case 'device':
        // Devices publish telemetry; they never administer anything.
        throw new TiqError('TIQ_ERR_FORBIDDEN', 'device certificates have no admin role');
    }
  };
}
