/**
 * Certificate making with node-forge: the gateway's CA, its server certificate
 * and client certificates carrying ThingIQ identities in the SAN URI.
 * node-forge makes RSA only; keys are generated natively when Node offers it.
 */
import { createPrivateKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { appUri, deviceUri, operatorUri, assertValidId, type Identity } from '../identity/identity.ts';

const { pki, md, asn1 } = forge;

export interface IssuedPem {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ValidityOptions {
  /** Defaults to now minus five minutes (clock skew between gateway and devices). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly days?: number;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * A positive random 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets,
 * positive). The first octet is 0x10-0x7f, so its hex has no leading zero and
 * reads the same everywhere serials are normalised (the control store keys,
 * revocation answers) as in the issuing answer.
 */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = Math.max(bytes[0]! & 0x7f, 0x10);
  return bytes.toString('hex');
}

function validity(opts: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60 * 1000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? defaultDays) * DAY_MS);
  return { notBefore, notAfter };
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * An RSA-2048 key pair made on libuv's thread pool, for callers on the
 * event loop; the private key in the PKCS#1 PEM form the other paths write.
 */
export async function newRsaKeyPair(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048, publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

function newKeyPair(bits = 2048): forge.pki.rsa.KeyPair {
  return pki.rsa.generateKeyPair({ bits, e: 0x10001 });
}

type Attr = { shortName: string; value: string };
type Issuer = { cert: forge.pki.Certificate; nativeKey: KeyObject };

const nativeKeyOf = (key: forge.pki.rsa.PrivateKey): KeyObject => createPrivateKey(pki.privateKeyToPem(key));

/**
 * What forge's cert.sign(key, sha256) does, with the RSA private-key
 * operation done by OpenSSL: forge's JavaScript RSA holds the event loop for
 * tens of milliseconds per signature, OpenSSL takes about one.
 */
function signNatively(cert: forge.pki.Certificate, key: KeyObject): void {
  cert.md = md.sha256.create();
  cert.signatureOid = cert.siginfo.algorithmOid = pki.oids['sha256WithRSAEncryption']!;
  // getTBSCertificate is forge's own (used by cert.sign) but missing from its type declarations.
  const tbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = sign('sha256', Buffer.from(asn1.toDer(tbs).getBytes(), 'binary'), key).toString('binary');
}

function build(
  subject: Attr[],
  issuer: Issuer | 'self',
  extensions: object[],
  v: { notBefore: Date; notAfter: Date },
  keys = newKeyPair(),
): IssuedPem {
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = newSerial();
  cert.validity.notBefore = v.notBefore;
  cert.validity.notAfter = v.notAfter;
  cert.setSubject(subject);
  cert.setIssuer(issuer === 'self' ? subject : issuer.cert.subject.attributes);
  cert.setExtensions([
    ...extensions,
    { name: 'subjectKeyIdentifier' },
    ...(issuer === 'self' ? [] : [{ name: 'authorityKeyIdentifier', keyIdentifier: issuer.cert.generateSubjectKeyIdentifier().getBytes() }]),
  ]);
  signNatively(cert, issuer === 'self' ? nativeKeyOf(keys.privateKey) : issuer.nativeKey);
  return {
    certPem: pki.certificateToPem(cert),
    keyPem: keys.privateKey ? pki.privateKeyToPem(keys.privateKey) : '',
    serial: cert.serialNumber,
    notBefore: v.notBefore,
    notAfter: v.notAfter,
  };
}

export function createCa(commonName = 'ThingIQ Gateway Development CA', opts: ValidityOptions = {}): IssuedPem {
  const subject = [{ shortName: 'CN', value: commonName }, { shortName: 'O', value: 'ThingIQ' }];
  return build(subject, 'self', [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ], validity(opts, 3650));
}

let lastCaCert: { pem: string; cert: forge.pki.Certificate } | undefined;

/**
 * The CA certificate is parsed once (forge's parsing is JavaScript on the
 * event loop); its private key is read for each issuance and not kept.
 */
function loadIssuer(ca: CaMaterial): Issuer {
  if (lastCaCert?.pem !== ca.certPem) lastCaCert = { pem: ca.certPem, cert: pki.certificateFromPem(ca.certPem) };
  return { cert: lastCaCert.cert, nativeKey: createPrivateKey(ca.keyPem) };
}

export function issueServerCertificate(ca: CaMaterial, hosts: readonly string[], opts: ValidityOptions = {}): IssuedPem {
  const altNames = hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
  return build([{ shortName: 'CN', value: hosts[0] ?? 'localhost' }, { shortName: 'O', value: 'ThingIQ' }], loadIssuer(ca), [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ], validity(opts, 825));
}

export interface ClientCertificateOptions extends ValidityOptions {
  /** Tests only: make a certificate with the wrong extended key usage. */
  readonly extKeyUsage?: 'clientAuth' | 'serverAuth';
  /** Issue for an existing public key (CSR flow): the private key stays with the device. */
  readonly publicKeyPem?: string;
}

export function identityUri(id: Identity): string {
  switch (id.kind) {
    case 'device': return deviceUri(id.tenantId, id.deviceId);
    case 'app': return appUri(id.tenantId, id.appId);
    case 'operator': return operatorUri(id.operatorName);
  }
}

function subjectFor(id: Identity): Attr[] {
  switch (id.kind) {
    case 'device': return [{ shortName: 'CN', value: id.deviceId }, { shortName: 'O', value: id.tenantId }, { shortName: 'OU', value: 'device' }];
    case 'app': return [{ shortName: 'CN', value: id.appId }, { shortName: 'O', value: id.tenantId }, { shortName: 'OU', value: 'app' }];
    case 'operator': return [{ shortName: 'CN', value: id.operatorName }, { shortName: 'O', value: 'ThingIQ operators' }, { shortName: 'OU', value: 'operator' }];
  }
}

export function assertIdentityIds(id: Identity): void {
  if (id.kind === 'operator') return assertValidId('operator name', id.operatorName);
  assertValidId('tenant', id.tenantId);
  if (id.kind === 'device') assertValidId('device', id.deviceId);
  else assertValidId('app', id.appId);
}

/** Issues a client certificate whose SAN URI carries the identity (docs/architecture.md, Identities). */
export function issueClientCertificate(ca: CaMaterial, id: Identity, opts: ClientCertificateOptions = {}): IssuedPem {
  assertIdentityIds(id);
  const eku = opts.extKeyUsage ?? 'clientAuth';
  const keys = opts.publicKeyPem
    ? ({ publicKey: pki.publicKeyFromPem(opts.publicKeyPem) } as forge.pki.rsa.KeyPair)
    : newKeyPair();
  const issued = build(subjectFor(id), loadIssuer(ca), [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', [eku]: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: identityUri(id) }] },
  ], validity(opts, 397), keys);
  return issued;
}
