/**
 * Certificates made per bench run in a temporary directory: the gateway's CA
 * and server certificate (initPki), device certificates carrying
 * `urn:thingiq:tenant:{t}:device:{d}` identities, and one tenant application.
 * Every target (bare aedes, the gateway, mosquitto) is given the same files.
 *
 * Devices share one RSA key pair (issued for an existing public key, the CSR
 * flow): key generation would dominate the setup, and a TLS handshake costs
 * the same whichever key it uses. Load devices are recorded in the issuance
 * registry (issueIdentity); the thousands of idle-connection devices are
 * signed directly, since the registry is only consulted for revocation.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueClientCertificate } from '../src/pki/certificates.ts';
import { initPki, issueIdentity, pkiPaths, readCa } from '../src/pki/pki-store.ts';

export const BENCH_TENANT = 'fleet';
export const BENCH_APP = 'bench-subscriber';

export interface ClientCert {
  /** Device or app id; the MQTT client id. */
  readonly id: string;
  readonly certPem: string;
}

export interface BenchPki {
  readonly dir: string;
  readonly caPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly caPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  /** The private key every bench client uses. */
  readonly clientKeyPem: string;
  readonly clientPublicKeyPem: string;
  readonly devices: readonly ClientCert[];
  readonly subscriber: ClientCert;
}

export function deviceId(i: number): string {
  return `dev-${String(i).padStart(5, '0')}`;
}

export function telemetryTopic(device: string): string {
  return `tenants/${BENCH_TENANT}/devices/${device}/location`;
}

export function createBenchPki(baseDir: string, deviceCount: number): BenchPki {
  const dir = join(baseDir, 'certs');
  initPki(dir, ['localhost', '127.0.0.1']);
  const paths = pkiPaths(dir);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const clientKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(join(baseDir, 'client.key'), clientKeyPem, { mode: 0o600 });
  const devices: ClientCert[] = [];
  for (let i = 0; i < deviceCount; i++) {
    const id = deviceId(i);
    devices.push({ id, certPem: issueIdentity(dir, { kind: 'device', tenantId: BENCH_TENANT, deviceId: id, uri: '' }, undefined, { publicKeyPem }).certPem });
  }
  const app = issueIdentity(dir, { kind: 'app', tenantId: BENCH_TENANT, appId: BENCH_APP, uri: '' }, undefined, { publicKeyPem });
  return {
    dir, caPath: paths.caCert, serverCertPath: paths.serverCert, serverKeyPath: paths.serverKey,
    caPem: readFileSync(paths.caCert, 'utf8'), serverCertPem: readFileSync(paths.serverCert, 'utf8'),
    serverKeyPem: readFileSync(paths.serverKey, 'utf8'),
    clientKeyPem, clientPublicKeyPem: publicKeyPem, devices, subscriber: { id: BENCH_APP, certPem: app.certPem },
  };
}

/** Device certificates for the idle-connection test, numbered after the load devices. */
export function issueScaleDevices(pki: BenchPki, from: number, count: number): ClientCert[] {
  const ca = readCa(pki.dir);
  const out: ClientCert[] = [];
  for (let i = from; i < from + count; i++) {
    const id = deviceId(i);
    out.push({ id, certPem: issueClientCertificate(ca, { kind: 'device', tenantId: BENCH_TENANT, deviceId: id, uri: '' }, { publicKeyPem: pki.clientPublicKeyPem }).certPem });
  }
  return out;
}
