/** The CLI against a running admin API (operator certificate over mTLS), and `audit verify` on the local file. */
import { Command } from 'commander';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerAdminCommands } from '../../src/cli/admin-commands.ts';
import { registerAuditCommands } from '../../src/cli/audit-commands.ts';
import { AdminFixture } from './admin-fixture.ts';

const fx = new AdminFixture();
let global: string[] = [];

async function thingiq(...args: string[]): Promise<{ out: string; exitCode: number }> {
  let out = '';
  const program = new Command('thingiq').exitOverride();
  registerAdminCommands(program, { out: (t) => (out += t) });
  registerAuditCommands(program, { out: (t) => (out += t) });
  process.exitCode = 0;
  await program.parseAsync(['node', 'thingiq', ...args]);
  return { out, exitCode: Number(process.exitCode ?? 0) };
}

beforeAll(async () => {
  await fx.start();
  const op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
  const files = { ca: join(fx.dir, 'ca.crt'), cert: join(fx.dir, 'olga.crt'), key: join(fx.dir, 'olga.key') };
  writeFileSync(files.ca, fx.caPem);
  writeFileSync(files.cert, op.cert!);
  writeFileSync(files.key, op.key!, { mode: 0o600 });
  global = ['admin', '--url', `https://127.0.0.1:${fx.ports.mtlsPort}`, '--ca', files.ca, '--cert', files.cert, '--key', files.key, '--json'];
});
afterEach(() => { process.exitCode = 0; });
afterAll(() => fx.close());

describe('thingiq admin', () => {
  it('issues, lists and revokes a device certificate', async () => {
    const issued = JSON.parse((await thingiq(...global, 'devices', 'issue', '--tenant', 'acme', '--device', 'van-1')).out) as { serial: string };
    const listed = JSON.parse((await thingiq(...global, 'devices', 'list', '--tenant', 'acme')).out) as { devices: { deviceId: string }[] };
    expect(listed.devices.map((d) => d.deviceId)).toContain('van-1');
    const revoked = JSON.parse((await thingiq(...global, 'devices', 'revoke', '--tenant', 'acme', '--device', 'van-1')).out) as { revoked: string[] };
    expect(revoked.revoked).toEqual([issued.serial]);
  });

  it('restricts, exports and erases', async () => {
    const r = await thingiq(...global, 'devices', 'restrict', '--tenant', 'acme', '--device', 'van-2', '--mode', 'refuse');
    expect(JSON.parse(r.out)).toEqual({ mode: 'refuse', previous: 'none' });
    fx.records.add('acme', 'van-2', { temperatureC: 1 });
    const file = join(fx.dir, 'van-2.ndjson');
    await thingiq(...global, 'subject', 'access', '--tenant', 'acme', '--device', 'van-2', '--out', file);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
    const refused = await thingiq(...global, 'subject', 'erase', '--tenant', 'acme', '--device', 'van-2');
    expect(refused.exitCode).toBe(2);
    const receipt = JSON.parse((await thingiq(...global, 'subject', 'erase', '--tenant', 'acme', '--device', 'van-2', '--yes')).out) as { recordsDeleted: number };
    expect(receipt.recordsDeleted).toBe(1);
  });

  it('switches private mode, puts a policy, and reaches any route with `call`', async () => {
    expect(JSON.parse((await thingiq(...global, 'private-mode', 'on', '--tenant', 'acme', '--device', 'van-3')).out)).toMatchObject({ on: true });
    const policyFile = join(fx.dir, 'policy.yaml');
    writeFileSync(policyFile, 'policyId: cli\nversion: 9\ndefaults:\n  "*": { action: strip }\n');
    expect(JSON.parse((await thingiq(...global, 'policy-put', '--tenant', 'acme', '--file', policyFile)).out)).toEqual({ inForce: { policyId: 'cli', policyVersion: 9 } });
    const groups = JSON.parse((await thingiq(...global, 'call', 'GET', '/v1/tenants/acme/device-groups')).out) as Record<string, unknown>;
    expect(groups).toHaveProperty('deviceGroups');
    const bad = await thingiq(...global, 'call', 'FETCH', '/v1/tenants');
    expect(bad.exitCode).toBe(2);
  });

  it('reports the server\'s error code', async () => {
    const r = await thingiq(...global, 'devices', 'restrict', '--tenant', 'nope', '--device', 'van-2', '--mode', 'drop');
    expect(r.exitCode).toBe(1);
  });
});

describe('thingiq audit verify', () => {
  it('passes on the untouched log and fails with the broken line after tampering', async () => {
    const ok = await thingiq('audit', 'verify', '--file', fx.deps.audit.path, '--json');
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true });
    const lines = readFileSync(fx.deps.audit.path, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"result":"ok"', '"result":"denied"').replace('"result":"denied"', '"result":"failed"');
    writeFileSync(fx.deps.audit.path, lines.join('\n'));
    const broken = await thingiq('audit', 'verify', '--file', fx.deps.audit.path, '--json');
    expect(broken.exitCode).toBe(1);
    expect(JSON.parse(broken.out)).toMatchObject({ ok: false, code: 'TIQ_ERR_AUDIT', firstBreak: { line: 2, reason: 'hash' } });
  });

  it('fails on a missing or emptied log, and on a copy verified without its key', async () => {
    const missing = await thingiq('audit', 'verify', '--file', join(fx.dir, 'nowhere', 'audit.jsonl'), '--json');
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.out)).toMatchObject({ ok: false, code: 'TIQ_ERR_AUDIT', firstBreak: { reason: 'missing' } });
    const copy = join(fx.dir, 'copy.jsonl');
    copyFileSync(fx.deps.audit.path, copy);
    const keyless = await thingiq('audit', 'verify', '--file', copy, '--json');
    expect([keyless.exitCode, (JSON.parse(keyless.out) as { firstBreak?: { reason: string } }).firstBreak?.reason]).toEqual([1, 'key']);
    writeFileSync(fx.deps.audit.path, '');
    const emptied = await thingiq('audit', 'verify', '--file', fx.deps.audit.path);
    expect(emptied.exitCode).toBe(1);
    expect(emptied.out).toContain('TIQ_ERR_AUDIT');
    expect(emptied.out).toContain('truncated');
  });
});
