/**
 * X.509 certificates (RFC 5280) built as DER with the @peculiar ASN.1
 * schemas and signed by OpenSSL through node:crypto. node-forge parses and
 * signs RSA only; this path takes any key Node holds, so the CA and the
 * subjects may each be ECDSA P-256 or RSA. Everything here is synchronous:
 * ECDSA and RSA signatures take well under a millisecond in OpenSSL.
 */
import { createHash, createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate,
  ExtendedKeyUsage, Extension, Extensions, GeneralName, KeyIdentifier, KeyUsage, KeyUsageFlags, Name,
  RelativeDistinguishedName, SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo, TBSCertificate, Validity, Version,
  id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage, id_ce_subjectAltName, id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';

/** Subject attributes, by their short name. */
export type Attr = { shortName: 'CN' | 'O' | 'OU'; value: string };

const ATTR_OID: Record<Attr['shortName'], string> = { CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11' };
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export function nameOf(attrs: readonly Attr[]): Name {
  return new Name(attrs.map((a) => new RelativeDistinguishedName([
    new AttributeTypeAndValue({ type: ATTR_OID[a.shortName], value: new AttributeValue({ utf8String: a.value }) }),
  ])));
}

/**
 * The signature algorithm a CA key signs with: sha256WithRSAEncryption
 * (parameters NULL, RFC 4055 §5) or ecdsa-with-SHA256/384 by curve
 * (parameters absent, RFC 5758 §3.2).
 */
function signatureAlgorithm(key: KeyObject): { alg: AlgorithmIdentifier; hash: 'sha256' | 'sha384' } {
  if (key.asymmetricKeyType === 'rsa') return { alg: new AlgorithmIdentifier({ algorithm: SHA256_WITH_RSA, parameters: null }), hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    const p384 = key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
    return { alg: new AlgorithmIdentifier({ algorithm: p384 ? ECDSA_WITH_SHA384 : ECDSA_WITH_SHA256 }), hash: p384 ? 'sha384' : 'sha256' };
  }
  throw new Error(`unsupported CA key type ${String(key.asymmetricKeyType)}`);
}

/** SubjectPublicKeyInfo of a public (or private) key, as OpenSSL encodes it. */
export function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return AsnConvert.parse(pub.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

/** Key identifier, method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey bits (what forge and OpenSSL compute). */
export function keyIdOf(spki: SubjectPublicKeyInfo): Buffer {
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export const ext = {
  basicConstraints: (cA: boolean, pathLen?: number) =>
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA, ...(pathLen !== undefined ? { pathLenConstraint: pathLen } : {}) })),
  keyUsage: (...flags: KeyUsageFlags[]) => extension(id_ce_keyUsage, true, new KeyUsage(flags.reduce((a, b) => a | b, 0))),
  extKeyUsage: (...oids: string[]) => extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(oids)),
  uriSan: (uri: string) => extension(id_ce_subjectAltName, false, new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: uri })])),
  hostSan: (hosts: readonly string[]) => extension(id_ce_subjectAltName, false, new SubjectAlternativeName(
    hosts.map((h) => new GeneralName(isIP(h) ? { iPAddress: h } : { dNSName: h })))),
};
export { KeyUsageFlags };

/** Who signs: the CA certificate's subject and key identifier, and its private key. */
export interface SignerInfo {
  readonly name: Name;
  readonly keyId: Buffer;
  readonly key: KeyObject;
}

/** Reads the issuer facts from a CA certificate: its subject as encoded, and its key identifier (from the extension if present). */
export function signerOf(caCertPem: string, caKey: KeyObject): SignerInfo {
  const der = new X509Certificate(caCertPem).raw;
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  const skiExt = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyId = skiExt
    ? Buffer.from(AsnConvert.parse(skiExt.extnValue.buffer, SubjectKeyIdentifier).buffer)
    : keyIdOf(tbs.subjectPublicKeyInfo);
  return { name: tbs.subject, keyId, key: caKey };
}

export interface CertificateSpec {
  readonly subject: readonly Attr[];
  readonly publicKey: KeyObject;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Extension[];
  /** 'self': a self-signed CA, signed by `selfKey`. */
  readonly issuer: SignerInfo | { self: KeyObject };
}

/** Builds and signs a v3 certificate; returns its PEM. */
export function buildCertificate(spec: CertificateSpec): string {
  const spki = spkiOf(spec.publicKey);
  const subject = nameOf(spec.subject);
  const self = 'self' in spec.issuer;
  const signer: SignerInfo = 'self' in spec.issuer ? { name: subject, keyId: keyIdOf(spki), key: spec.issuer.self } : spec.issuer;
  const { alg, hash } = signatureAlgorithm(signer.key);
  const extensions = new Extensions([
    ...spec.extensions,
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdOf(spki))),
    ...(self ? [] : [extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(signer.keyId) }))]),
  ]);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(Buffer.from(spec.serialHex, 'hex')).buffer,
    signature: alg,
    issuer: signer.name,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions,
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // node:crypto's ECDSA signatures are DER (r, s), the form X.509 carries (RFC 5758 §3.2).
  const signature = sign(hash, tbsDer, signer.key);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: new Uint8Array(signature).buffer });
  return toPem(Buffer.from(AsnConvert.serialize(cert)), 'CERTIFICATE');
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
