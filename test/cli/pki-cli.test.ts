import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

describe('thingiq pki', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'thingiq-cli-'));
  // The default config path: certificates are issued only for configured tenants.
  mkdirSync(join(cwd, 'config'));
  writeFileSync(join(cwd, 'config', 'gateway.yaml'), 'tenants:\n  acme: {}\n');

  it('init creates the CA and server certificate with private keys at 0600, and never overwrites the CA', async () => {
    const first = await runCli(cwd, ['pki', 'init', '--host', 'localhost', '127.0.0.1', 'mqtt.example.com']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/created CA/);
    for (const key of ['ca.key', 'server.key']) expect(statSync(join(cwd, 'certs', key)).mode & 0o777).toBe(0o600);
    const server = new X509Certificate(readFileSync(join(cwd, 'certs', 'server.crt')));
    expect(server.subjectAltName).toContain('DNS:mqtt.example.com');
    expect(server.subjectAltName).toContain('IP Address:127.0.0.1');
    const ca = readFileSync(join(cwd, 'certs', 'ca.crt'), 'utf8');
    const again = await runCli(cwd, ['pki', 'init']);
    expect(again.stdout).toMatch(/kept existing CA/);
    expect(readFileSync(join(cwd, 'certs', 'ca.crt'), 'utf8')).toBe(ca);
  });

  it('issue device writes <name>.crt, <name>.key (0600) and ca.crt with the identity in the SAN URI', async () => {
    const r = await runCli(cwd, ['pki', 'issue', 'device', '--tenant', 'acme', '--device', 'truck-1', '--out', 'out']);
    expect(r.code).toBe(0);
    expect(statSync(join(cwd, 'out', 'truck-1.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(cwd, 'out', 'truck-1.crt')));
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:truck-1');
    expect(cert.subject).toContain('CN=truck-1');
    expect(cert.subject).toContain('O=acme');
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(cert.checkIssued(new X509Certificate(readFileSync(join(cwd, 'out', 'ca.crt'))))).toBe(true);
  });

  it('issue app and operator use their URIs', async () => {
    await runCli(cwd, ['pki', 'issue', 'app', '--tenant', 'acme', '--app', 'dashboard', '--out', 'out']);
    await runCli(cwd, ['pki', 'issue', 'operator', '--name', 'alice', '--out', 'out']);
    expect(new X509Certificate(readFileSync(join(cwd, 'out', 'dashboard.crt'))).subjectAltName).toBe('URI:urn:thingiq:tenant:acme:app:dashboard');
    expect(new X509Certificate(readFileSync(join(cwd, 'out', 'alice.crt'))).subjectAltName).toBe('URI:urn:thingiq:operator:alice');
  });

  it.each([['Acme'], ['acme/evil'], ['-acme'], ['a'.repeat(64)], ['acme:device:x']])('refuses the id %j with a clear message and exit code 2', async (bad) => {
    const r = await runCli(cwd, ['pki', 'issue', 'device', '--tenant', bad, '--device', 'd1', '--out', 'out']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TIQ_ERR_INVALID_ID.*must match/);
  });

  it('records serials in the issuance registry; list and revoke work on it', async () => {
    const list = await runCli(cwd, ['pki', 'list', '--tenant', 'acme', '--json']);
    const rows = JSON.parse(list.stdout) as { serial: string; uri: string; status: string }[];
    const truck = rows.find((r) => r.uri === 'urn:thingiq:tenant:acme:device:truck-1');
    expect(truck?.status).toBe('active');
    expect(statSync(join(cwd, 'certs', 'registry.json')).mode & 0o777).toBe(0o600);
    const rev = await runCli(cwd, ['pki', 'revoke', '--tenant', 'acme', '--device', 'truck-1', '--actor', 'test']);
    expect(rev.code).toBe(0);
    const after = JSON.parse((await runCli(cwd, ['pki', 'list', '--json'])).stdout) as { serial: string; status: string }[];
    expect(after.find((r) => r.serial === truck!.serial)?.status).toBe('revoked');
  });
});
