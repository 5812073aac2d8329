/**
 * The real `thingiq` binary as operators run it: output cut short by a
 * reader that stops (`... | head`) ends quietly; the admin commands tell a
 * refused connection, a TLS failure and a refused credential apart; bad input
 * exits 2 with one line and no stack trace.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createCa } from '../../src/pki/certificates.ts';
import { pkiPaths } from '../../src/pki/pki-store.ts';
import { freePort } from '../helpers/free-port.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { BIN, runCli } from './run-cli.ts';

const STACK = /^\s+at .+:\d+(:\d+)?\)?$/m;
const SLOW = 300_000;
const env = { THINGIQ_ADMIN_TOKEN: '' };

/** Runs the CLI with stdout a pipe that this side closes after the first chunk, as `| head -c1` would. */
function runAndCloseEarly(cwd: string, args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string; gotOutput: boolean }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env } });
  let stderr = '';
  let gotOutput = false;
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout.once('data', () => { gotOutput = true; child.stdout.destroy(); });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, gotOutput })));
}

describe('the thingiq binary', () => {
  const pki = new TestPki();
  const cwd = pki.baseDir;
  const config = join(cwd, 'gateway.yaml');
  const file = (name: string, text: string) => { const p = join(cwd, name); writeFileSync(p, text, { mode: 0o600 }); return p; };
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let op: ClientPem;

  beforeAll(async () => {
    writeFileSync(config, stringify({ pkiDir: pki.dir, dataDir: join(cwd, 'data'), tenants: TEST_TENANTS }));
    gw = await startGateway(pki);
    op = pki.operator('alice');
    // Enough records that the export outlives the reader: well past a pipe's 64 KiB.
    const device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    for (let i = 1; i <= 600; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle({ sequence: i + j })), { qos: 1 })));
    }
    await device.endAsync();
  }, SLOW);
  afterAll(async () => { await gw?.gateway.close(); });

  it('admin commands: a refused connection, a TLS failure and a refused credential are different errors', async () => {
    const closed = await freePort();
    const foreignCa = file('foreign-ca.crt', createCa('Foreign CA').certPem);
    const foreignOp = pki.foreignDevice('acme', 'x');
    const admin = (url: string, ...args: string[]) => runCli(cwd, ['admin', '--url', url, ...args, 'tenants'], env);
    const [refused, untrusted, certRefused, noToken, ok] = await Promise.all([
      admin(`https://localhost:${closed}`, '--ca', op.caPath, '--cert', op.certPath, '--key', op.keyPath),
      admin(`https://localhost:${gw!.gateway.adminPorts.mtlsPort}`, '--ca', foreignCa, '--cert', op.certPath, '--key', op.keyPath),
      admin(`https://localhost:${gw!.gateway.adminPorts.mtlsPort}`, '--ca', op.caPath, '--cert', file('f.crt', foreignOp.cert), '--key', file('f.key', foreignOp.key)),
      admin(`https://localhost:${gw!.gateway.adminPorts.port}`, '--ca', op.caPath),
      admin(`https://localhost:${gw!.gateway.adminPorts.mtlsPort}`, '--ca', op.caPath, '--cert', op.certPath, '--key', op.keyPath, '--json'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TIQ_ERR_UNREACHABLE');
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('TIQ_ERR_TLS_HANDSHAKE');
    expect(certRefused.code).toBe(1);
    expect(certRefused.stderr).toContain('TIQ_ERR_TLS_HANDSHAKE');
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('TIQ_ERR_UNAUTHENTICATED');
    for (const r of [refused, untrusted, certRefused, noToken]) expect(r.stderr).not.toMatch(STACK);
    expect(JSON.parse(ok.stdout)).toHaveProperty('tenants');
  }, SLOW);

  it('bad input exits 2 with its code and no stack trace', async () => {
    const [missing, devices, tenant, count, trace, erase] = await Promise.all([
      runCli(cwd, ['--config', config, 'records', 'count'], env),
      runCli(cwd, ['--config', config, 'simulate', '--tenant', 'acme', '--devices', 'abc'], env),
      runCli(cwd, ['--config', config, 'pki', 'issue', 'device', '--tenant', 'nosuch', '--device', 'd-1', '--out', join(cwd, 'out')], env),
      runCli(cwd, ['--config', config, 'records', 'count', '--tenant', 'nosuch'], env),
      runCli(cwd, ['--config', config, 'policy', 'preview', '--tenant', 'acme', '--trace', join(cwd, 'no-such-trace.ndjson')], env),
      runCli(cwd, ['admin', '--ca', op.caPath, 'subject', 'erase', '--tenant', 'acme', '--device', 'truck-1'], env),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--tenant <id>' not specified");
    expect([devices.code, devices.stderr.includes('TIQ_ERR_USAGE')]).toEqual([2, true]);
    expect([tenant.code, tenant.stderr.includes('TIQ_ERR_TENANT_UNKNOWN')]).toEqual([2, true]);
    expect([count.code, count.stderr.includes('TIQ_ERR_TENANT_UNKNOWN'), count.stdout]).toEqual([2, true, '']);
    expect([trace.code, trace.stderr.includes('TIQ_ERR_USAGE'), trace.stderr.includes('ENOENT')]).toEqual([2, true, true]);
    expect([erase.code, erase.stderr.includes('TIQ_ERR_USAGE')]).toEqual([2, true]);
    for (const r of [missing, devices, tenant, count, trace, erase]) expect(r.stderr).not.toMatch(STACK);
  }, SLOW);

  it('records export, pki list and policy preview end quietly when the reader stops early (EPIPE)', async () => {
    await gw!.gateway.close();
    gw = undefined;
    // A long registry for pki list, and a long trace for policy preview.
    const registry = pkiPaths(pki.dir).registry;
    const reg = JSON.parse(readFileSync(registry, 'utf8')) as { certificates: object[] };
    for (let i = 0; i < 3000; i++) {
      reg.certificates.push({ serial: (0x100000 + i).toString(16), uri: `urn:thingiq:tenant:acme:device:d-${i}`, kind: 'device', tenantId: 'acme', subject: `acme/d-${i}`, notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', issuedAt: '2026-01-01T00:00:00.000Z', status: 'active' });
    }
    writeFileSync(registry, JSON.stringify(reg));
    const t0 = 1717578000000;
    const trace = file('long.ndjson', Array.from({ length: 5000 }, (_, i) => JSON.stringify({ timeUnixMs: t0 + i * 1000, sequence: i + 1, latitude: 52.52 + i * 1e-5, longitude: 13.4 + i * 1e-5 })).join('\n'));
    const policy = file('policy.yaml', 'policyId: p\nversion: 1\ndefaults:\n  "*": { action: coarsen, coarsen: { method: decimal, places: 2 } }\n');
    const results = await Promise.all([
      runAndCloseEarly(cwd, ['--config', config, 'records', 'export', '--tenant', 'acme', '--format', 'ndjson']),
      runAndCloseEarly(cwd, ['--config', config, 'pki', 'list']),
      runAndCloseEarly(cwd, ['--config', config, 'policy', 'preview', '--tenant', 'acme', '--trace', trace, '--policy', policy]),
    ]);
    for (const r of results) {
      expect(r.gotOutput).toBe(true);
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr).not.toContain('EPIPE');
      expect([r.code, r.signal]).toEqual([0, null]);
    }
  }, SLOW);
});
