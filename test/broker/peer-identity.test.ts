import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { identifyPeer, type PeerIdentityContext } from '../../src/broker/peer-identity.ts';
import { createCa, issueClientCertificate } from '../../src/pki/certificates.ts';
import { TestPki } from '../helpers/pki.ts';

function socketWith(certPem: string): TLSSocket {
  return { getPeerX509Certificate: () => new X509Certificate(certPem), remoteAddress: '127.0.0.1' } as unknown as TLSSocket;
}

describe('identifyPeer (behind OpenSSL\'s chain and validity checks)', () => {
  const pki = new TestPki();
  const revoked = new Set<string>();
  const ctx: PeerIdentityContext = { ownCa: new X509Certificate(pki.caPem), externalCa: undefined, isRevoked: (s) => revoked.has(s.toLowerCase()) };

  it('maps the SAN URI to a device identity', () => {
    const peer = identifyPeer(socketWith(pki.device('acme', 'truck-1').cert), ctx);
    expect(peer.identity).toMatchObject({ kind: 'device', tenantId: 'acme', deviceId: 'truck-1' });
  });

  it('refuses a certificate without the clientAuth usage with TIQ_ERR_CERT_USAGE', () => {
    expect(() => identifyPeer(socketWith(pki.device('acme', 'd', { extKeyUsage: 'serverAuth' }).cert), ctx)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CERT_USAGE' }));
  });

  it('refuses a revoked serial with TIQ_ERR_CERT_REVOKED', () => {
    const pem = pki.device('acme', 'd2');
    revoked.add(pem.serial.toLowerCase());
    expect(() => identifyPeer(socketWith(pem.cert), ctx)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CERT_REVOKED' }));
  });

  it('refuses a certificate of another CA that is not the configured external CA', () => {
    expect(() => identifyPeer(socketWith(pki.foreignDevice('acme', 'd').cert), ctx)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_IDENTITY' }));
  });

  it('maps an external CA\'s certificate by subject fields, refusing ids outside the pattern', () => {
    const ext = createCa('Partner CA');
    const extCtx: PeerIdentityContext = { ...ctx, externalCa: { ca: new X509Certificate(ext.certPem), tenantFrom: 'O', deviceFrom: 'CN' } };
    const ok = issueClientCertificate(ext, { kind: 'device', tenantId: 'acme', deviceId: 'meter-1', uri: '' });
    expect(identifyPeer(socketWith(ok.certPem), extCtx).identity).toMatchObject({ kind: 'device', tenantId: 'acme', deviceId: 'meter-1' });
  });
});
