/**
 * Certificate making: the gateway's CA, its server certificate and client
 * certificates carrying ThingIQ identities in the SAN URI. Keys are ECDSA
 * P-256 by default (what secure elements and embedded TLS stacks make) or
 * RSA-2048; the CA may be either. Certificates are built by x509-der.ts and
 * signed by OpenSSL; node-forge, which knows RSA only, is not used here.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { appUri, deviceUri, operatorUri, assertValidId, type Identity } from '../identity/identity.ts';
import { buildCertificate, CLIENT_AUTH, ext, KeyUsageFlags, SERVER_AUTH, signerOf, type Attr, type SignerInfo } from './x509-der.ts';

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

/** Key types of generated key pairs: ECDSA on P-256 (the default) or RSA-2048. */
export type KeyType = 'ec' | 'rsa';
export const KEY_TYPES: readonly KeyType[] = ['ec', 'rsa'];
export const DEFAULT_KEY_TYPE: KeyType = 'ec';

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

/** A generated key pair; the private key PEM is PKCS#8 for EC and PKCS#1 for RSA (the form older versions wrote). */
export interface KeyPairPem {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

type PemPair = { publicKey: string; privateKey: string };
const PUBLIC_PEM = { type: 'spki', format: 'pem' } as const;
const RSA_OPTIONS = { modulusLength: 2048, publicExponent: 0x10001, publicKeyEncoding: PUBLIC_PEM, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } } as const;
const EC_OPTIONS = { namedCurve: 'prime256v1', publicKeyEncoding: PUBLIC_PEM, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;

/**
 * A key pair made on libuv's thread pool, for callers on the event loop
 * (RSA-2048 takes 50-500 ms; P-256 well under one).
 */
export async function newKeyPairAsync(type: KeyType = DEFAULT_KEY_TYPE): Promise<KeyPairPem> {
  const { publicKey, privateKey } = (type === 'ec'
    ? await generateKeyPairAsync('ec', EC_OPTIONS)
    : await generateKeyPairAsync('rsa', RSA_OPTIONS)) as PemPair;
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

export function newKeyPairSync(type: KeyType = DEFAULT_KEY_TYPE): KeyPairPem {
  const { publicKey, privateKey } = (type === 'ec'
    ? generateKeyPairSync('ec', EC_OPTIONS)
    : generateKeyPairSync('rsa', RSA_OPTIONS)) as PemPair;
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** The subject's key: given (a CSR's public key), or generated here and returned once. */
function subjectKey(publicKeyPem: string | undefined, type: KeyType | undefined): { publicKey: KeyObject; keyPem: string } {
  if (publicKeyPem !== undefined) return { publicKey: createPublicKey(publicKeyPem), keyPem: '' };
  const made = newKeyPairSync(type);
  return { publicKey: createPublicKey(made.publicKeyPem), keyPem: made.privateKeyPem };
}

/**
 * keyUsage by key type: an RSA key may encipher TLS 1.2 key exchanges, an
 * ECDSA key only signs (RFC 5480 §3 forbids keyEncipherment for it).
 */
function leafKeyUsage(publicKey: KeyObject) {
  return publicKey.asymmetricKeyType === 'rsa'
    ? ext.keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyEncipherment)
    : ext.keyUsage(KeyUsageFlags.digitalSignature);
}

export interface CaOptions extends ValidityOptions {
  readonly keyType?: KeyType;
}

export function createCa(commonName = 'ThingIQ Gateway Development CA', opts: CaOptions = {}): IssuedPem {
  const made = newKeyPairSync(opts.keyType);
  const key = createPrivateKey(made.privateKeyPem);
  const v = validity(opts, 3650);
  const serial = newSerial();
  const certPem = buildCertificate({
    subject: [{ shortName: 'CN', value: commonName }, { shortName: 'O', value: 'ThingIQ' }],
    publicKey: createPublicKey(made.publicKeyPem), serialHex: serial, ...v, issuer: { self: key },
    extensions: [ext.basicConstraints(true, 0), ext.keyUsage(KeyUsageFlags.keyCertSign, KeyUsageFlags.cRLSign)],
  });
  return { certPem, keyPem: made.privateKeyPem, serial, ...v };
}

let lastIssuer: { certPem: string; keyPem: string; signer: SignerInfo } | undefined;

/** The CA certificate and key are parsed once per change of either (a CA may be EC or RSA). */
function loadIssuer(ca: CaMaterial): SignerInfo {
  if (lastIssuer?.certPem !== ca.certPem || lastIssuer.keyPem !== ca.keyPem) {
    lastIssuer = { certPem: ca.certPem, keyPem: ca.keyPem, signer: signerOf(ca.certPem, createPrivateKey(ca.keyPem)) };
  }
  return lastIssuer.signer;
}

function issue(ca: CaMaterial, subject: Attr[], key: { publicKey: KeyObject; keyPem: string }, extensions: Parameters<typeof buildCertificate>[0]['extensions'], v: { notBefore: Date; notAfter: Date }): IssuedPem {
  const serial = newSerial();
  const certPem = buildCertificate({ subject, publicKey: key.publicKey, serialHex: serial, ...v, issuer: loadIssuer(ca), extensions });
  return { certPem, keyPem: key.keyPem, serial, ...v };
}

export function issueServerCertificate(ca: CaMaterial, hosts: readonly string[], opts: CaOptions = {}): IssuedPem {
  const key = subjectKey(undefined, opts.keyType);
  return issue(ca, [{ shortName: 'CN', value: hosts[0] ?? 'localhost' }, { shortName: 'O', value: 'ThingIQ' }], key, [
    ext.basicConstraints(false), leafKeyUsage(key.publicKey), ext.extKeyUsage(SERVER_AUTH), ext.hostSan(hosts),
  ], validity(opts, 825));
}

export interface ClientCertificateOptions extends ValidityOptions {
  /** Tests only: make a certificate with the wrong extended key usage. */
  readonly extKeyUsage?: 'clientAuth' | 'serverAuth';
  /** Issue for an existing public key (CSR flow): the private key stays with the device. */
  readonly publicKeyPem?: string;
  /** The key type of a key pair generated here (ignored with publicKeyPem); default EC P-256. */
  readonly keyType?: KeyType;
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
  return issueUriCertificate(ca, subjectFor(id), identityUri(id), opts);
}

/**
 * A clientAuth certificate for any ThingIQ URI (identities, and provisioning
 * claims, which are no identity): `subject` is informational, the URI is
 * what the gateway reads.
 */
export function issueUriCertificate(ca: CaMaterial, subject: Attr[], uri: string, opts: ClientCertificateOptions = {}): IssuedPem {
  const key = subjectKey(opts.publicKeyPem, opts.keyType);
  return issue(ca, subject, key, [
    ext.basicConstraints(false), leafKeyUsage(key.publicKey),
    ext.extKeyUsage(opts.extKeyUsage === 'serverAuth' ? SERVER_AUTH : CLIENT_AUTH), ext.uriSan(uri),
  ], validity(opts, 397));
}
