/**
 * The gateway's PKI on disk (`certs/` by default):
 *   ca.crt, ca.key (0600)          the gateway's own CA
 *   server.crt, server.key (0600)  the MQTT and admin listeners' certificate
 *   registry.json (0600)           every certificate issued, with its status
 */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TiqError } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import {
  createCa, identityUri, issueClientCertificate, issueServerCertificate,
  type CaMaterial, type ClientCertificateOptions, type IssuedPem, type KeyType,
} from './certificates.ts';
import { IssuanceRegistry, type IssuedFacts } from './issuance-registry.ts';
import { writeFileAtomic, writePrivateKey } from './secure-files.ts';

export interface PkiPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly registry: string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    registry: join(dir, 'registry.json'),
  };
}

export interface InitResult {
  readonly createdCa: boolean;
  readonly createdServer: boolean;
}

/**
 * Creates whatever is missing: the CA, then a server certificate for `hosts`.
 * Never overwrites. `keyType` (default EC P-256) is the key type of what is
 * created here; an existing CA keeps its own, EC or RSA.
 */
export function initPki(dir: string, hosts: readonly string[], opts: { force?: boolean; keyType?: KeyType } = {}): InitResult {
  const p = pkiPaths(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let createdCa = false;
  if (!existsSync(p.caCert) || !existsSync(p.caKey)) {
    const ca = createCa(undefined, opts.keyType ? { keyType: opts.keyType } : {});
    writePrivateKey(p.caKey, ca.keyPem);
    writeFileAtomic(p.caCert, ca.certPem);
    createdCa = true;
  }
  let createdServer = false;
  if (createdCa || opts.force || !existsSync(p.serverCert) || !existsSync(p.serverKey)) {
    const server = issueServerCertificate(readCa(dir), hosts, opts.keyType ? { keyType: opts.keyType } : {});
    writePrivateKey(p.serverKey, server.keyPem);
    writeFileAtomic(p.serverCert, server.certPem);
    new IssuanceRegistry(p.registry).add({
      serial: server.serial, uri: '', kind: 'server', subject: `server ${hosts.join(',')}`,
      notBefore: server.notBefore.toISOString(), notAfter: server.notAfter.toISOString(), issuedAt: new Date().toISOString(),
    });
    createdServer = true;
  }
  return { createdCa, createdServer };
}

export function readCa(dir: string): CaMaterial {
  const p = pkiPaths(dir);
  try {
    return { certPem: readFileSync(p.caCert, 'utf8'), keyPem: readFileSync(p.caKey, 'utf8') };
  } catch (err) {
    throw new TiqError('TIQ_ERR_PKI', `cannot read the CA in ${dir} (run \`thingiq pki init\`)`, { cause: err });
  }
}

export function nameOf(id: Identity): string {
  switch (id.kind) {
    case 'device': return id.deviceId;
    case 'app': return id.appId;
    case 'operator': return id.operatorName;
  }
}

export interface IssueResult extends IssuedPem {
  readonly certPath: string;
  readonly keyPath: string | undefined;
  readonly caPath: string;
  /** What to record in the issuance registry. */
  readonly record: IssuedFacts;
}

/**
 * Issues a client certificate and records it. Writes `<out>/<name>.crt`,
 * `<out>/<name>.key` (0600) and `<out>/ca.crt` when `out` is given.
 */
export function issueIdentity(dir: string, id: Identity, out: string | undefined, opts: ClientCertificateOptions = {}, journal = true): IssueResult {
  const ca = readCa(dir);
  const issued = issueClientCertificate(ca, id, opts);
  const record: IssuedFacts = {
    serial: issued.serial,
    uri: identityUri(id),
    kind: id.kind,
    ...(id.kind === 'operator' ? {} : { tenantId: id.tenantId }),
    subject: describeIdentity(id),
    notBefore: issued.notBefore.toISOString(),
    notAfter: issued.notAfter.toISOString(),
    issuedAt: new Date().toISOString(),
  };
  // A caller with the control store records it there (IssuanceRegistry.record), with its actor.
  if (journal) new IssuanceRegistry(pkiPaths(dir).registry).add(record);
  const name = nameOf(id);
  const target = out ?? dir;
  const certPath = join(target, `${name}.crt`);
  const keyPath = issued.keyPem ? join(target, `${name}.key`) : undefined;
  const caPath = join(target, 'ca.crt');
  if (out !== undefined) {
    mkdirSync(out, { recursive: true });
    writeFileAtomic(certPath, issued.certPem);
    if (keyPath) writePrivateKey(keyPath, issued.keyPem);
    writeFileAtomic(caPath, ca.certPem);
  }
  return { ...issued, certPath, keyPath, caPath, record };
}
