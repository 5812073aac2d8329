/**
 * Identity of a TLS peer. OpenSSL has already verified the chain and the
 * validity period (requestCert + rejectUnauthorized); this adds what it does
 * not check for client certificates: the clientAuth extended key usage,
 * revocation by serial, and a well-formed ThingIQ identity.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { TiqError } from '../errors.ts';
import { isValidId, parseIdentityUri, type Identity } from '../identity/identity.ts';
import type { PeerInfo } from './client-state.ts';

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

export interface ExternalCaMapping {
  readonly ca: X509Certificate;
  readonly tenantFrom: 'O' | 'OU' | 'CN';
  readonly deviceFrom: 'O' | 'OU' | 'CN';
}

export interface PeerIdentityContext {
  readonly ownCa: X509Certificate;
  readonly externalCa: ExternalCaMapping | undefined;
  isRevoked(serial: string): boolean;
}

export function identifyPeer(socket: TLSSocket, ctx: PeerIdentityContext): PeerInfo {
  const cert = socket.getPeerX509Certificate();
  if (!cert) throw new TiqError('TIQ_ERR_TLS_HANDSHAKE', 'no client certificate');
  // A resumed TLS session is not verified again by OpenSSL: it brings back the
  // certificate of the full handshake, whatever happened since. Validity,
  // usage and revocation are therefore checked here on every connection.
  const now = Date.now();
  const notAfterMs = Date.parse(cert.validTo);
  if (Date.parse(cert.validFrom) > now || notAfterMs < now) throw new TiqError('TIQ_ERR_CERT_EXPIRED');
  // A server certificate of the same CA must not pass as a device (RFC 5280 §4.2.1.12).
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) throw new TiqError('TIQ_ERR_CERT_USAGE');
  const identity = cert.checkIssued(ctx.ownCa)
    ? ownIdentity(cert, ctx)
    : ctx.externalCa && cert.checkIssued(ctx.externalCa.ca)
      ? externalIdentity(cert, ctx.externalCa)
      : undefined;
  if (!identity) throw new TiqError('TIQ_ERR_IDENTITY');
  return { identity, serial: cert.serialNumber, remoteAddress: socket.remoteAddress ?? '', notAfterMs };
}

function ownIdentity(cert: X509Certificate, ctx: PeerIdentityContext): Identity | undefined {
  if (ctx.isRevoked(cert.serialNumber)) throw new TiqError('TIQ_ERR_CERT_REVOKED');
  const uris = (cert.subjectAltName ?? '').split(', ').filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
  const identities = uris.map(parseIdentityUri).filter((i) => i !== undefined);
  // Exactly one ThingIQ identity: a certificate naming two is ambiguous and refused.
  return identities.length === 1 ? identities[0] : undefined;
}

function subjectField(cert: X509Certificate, field: string): string | undefined {
  const values = cert.subject.split('\n').filter((l) => l.startsWith(`${field}=`)).map((l) => l.slice(field.length + 1));
  return values.length === 1 ? values[0] : undefined;
}

/** Certificates of an external CA map to devices by configured subject fields. */
function externalIdentity(cert: X509Certificate, mapping: ExternalCaMapping): Identity | undefined {
  const tenantId = subjectField(cert, mapping.tenantFrom);
  const deviceId = subjectField(cert, mapping.deviceFrom);
  if (!tenantId || !deviceId || !isValidId(tenantId) || !isValidId(deviceId)) return undefined;
  return { kind: 'device', tenantId, deviceId, uri: `urn:thingiq:tenant:${tenantId}:device:${deviceId}` };
}
