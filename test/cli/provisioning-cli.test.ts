/** `thingiq provisioning claim create|list|revoke` without a running gateway: the control store and the local CA. */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

/** Each `thingiq` run is a fresh Node process (and the first may build dist/): slow on a loaded machine. */
const CLI_TIMEOUT_MS = 180_000;

describe('thingiq provisioning claim (offline)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'thingiq-prov-'));
  mkdirSync(join(cwd, 'config'));
  writeFileSync(join(cwd, 'config', 'gateway.yaml'), 'tenants:\n  acme: {}\n');

  it('create writes the claim certificate, its key (0600) and the CA; list shows it; revoke marks it revoked', async () => {
    const created = await runCli(cwd, ['provisioning', 'claim', 'create', '--tenant', 'acme', '--claim', 'line-1', '--pattern', 'sensor-*', '--max', '10', '--days', '14', '--out', 'box']);
    expect(created.code, created.stderr).toBe(0);
    expect(statSync(join(cwd, 'box', 'line-1.claim.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(cwd, 'box', 'line-1.claim.crt')));
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:claim:line-1');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkIssued(new X509Certificate(readFileSync(join(cwd, 'box', 'ca.crt'))))).toBe(true);

    const listed = JSON.parse((await runCli(cwd, ['provisioning', 'claim', 'list', '--tenant', 'acme', '--json'])).stdout) as { claimId: string; status: string; used: number; maxDevices: number; serial: string }[];
    expect(listed).toEqual([expect.objectContaining({ claimId: 'line-1', status: 'active', used: 0, maxDevices: 10 })]);
    expect(listed[0]!.serial).toBe(cert.serialNumber.toLowerCase().replace(/^0+/, ''));

    expect((await runCli(cwd, ['provisioning', 'claim', 'revoke', '--tenant', 'acme', '--claim', 'line-1'])).code).toBe(0);
    const after = JSON.parse((await runCli(cwd, ['provisioning', 'claim', 'list', '--tenant', 'acme', '--json'])).stdout) as { status: string }[];
    expect(after.map((c) => c.status)).toEqual(['revoked']);
  }, CLI_TIMEOUT_MS);

  it('refuses a bad pattern, a taken claim id, and an unknown claim to revoke, with their codes', async () => {
    const badPattern = await runCli(cwd, ['provisioning', 'claim', 'create', '--tenant', 'acme', '--claim', 'line-2', '--pattern', 'Sensor.+', '--max', '1', '--out', 'box']);
    expect([badPattern.code, badPattern.stderr.includes('TIQ_ERR_USAGE')]).toEqual([2, true]);
    const taken = await runCli(cwd, ['provisioning', 'claim', 'create', '--tenant', 'acme', '--claim', 'line-1', '--pattern', '*', '--max', '1', '--out', 'box2']);
    expect(taken.stderr).toContain('TIQ_ERR_CONFLICT');
    const unknown = await runCli(cwd, ['provisioning', 'claim', 'revoke', '--tenant', 'acme', '--claim', 'nope']);
    expect(unknown.stderr).toContain('TIQ_ERR_NOT_FOUND');
  }, CLI_TIMEOUT_MS);
});
