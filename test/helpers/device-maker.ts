/**
 * What a device maker's tooling does: keys and CSRs made by the openssl
 * command (not by the gateway's code), and HTTPS calls with a client
 * certificate. Asynchronous throughout: the gateway under test runs in the
 * same process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import forge from 'node-forge';

export const haveOpenssl = spawnSync('openssl', ['version']).error === undefined;
if (!haveOpenssl && process.env['CI'] === 'true') throw new Error('the openssl command is required under CI (.ci/run installs it)');

export function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

export type MakerKey = 'P-256' | 'P-384' | 'rsa:2048' | 'rsa:1024';

/** A private key (mode 0600) and a CSR for it, with a hostile subject the gateway must ignore. */
export async function opensslKeyAndCsr(dir: string, name: string, kind: MakerKey): Promise<{ keyPath: string; csrPath: string; keyPem: string; csrPem: string }> {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const keyArgs = kind.startsWith('rsa') ? ['-newkey', kind] : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${kind}`];
  const r = await run('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=urn:thingiq:operator:root/O=other-tenant']);
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  chmodSync(keyPath, 0o600);
  return { keyPath, csrPath, keyPem: readFileSync(keyPath, 'utf8'), csrPem: readFileSync(csrPath, 'utf8') };
}

/** An RSA-2048 key and a CSR for it made with node-forge, with this subject common name (the gateway must take the identity from elsewhere). */
export function forgeCsr(commonName: string): { pem: string; publicKeyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  return { pem: forge.pki.certificationRequestToPem(csr), publicKeyPem: forge.pki.publicKeyToPem(keys.publicKey) };
}

/** Flips the last byte of the DER: the signature no longer verifies, the request still parses. */
export function tamperCsr(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

export interface HttpsAnswer { status: number; json: Record<string, unknown> }

/** One HTTPS call with a client certificate (verification of the server stays on). */
export function httpsCall(port: number, tls: { cert: string; key: string; ca: string }, method: string, path: string, body?: unknown): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, ...tls, servername: 'localhost', agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) as Record<string, unknown> : {} }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

export function mosquittoTls(port: number, files: { caPath: string; certPath: string; keyPath: string }, clientId: string): string[] {
  return ['-h', 'localhost', '-p', String(port), '--cafile', files.caPath, '--cert', files.certPath, '--key', files.keyPath, '-i', clientId, '-V', 'mqttv311'];
}
