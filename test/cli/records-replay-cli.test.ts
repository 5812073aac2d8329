/**
 * `thingiq records replay|tail` (the real binary, spawned) against a running
 * gateway: as the local operator without credentials, and as an app with its
 * certificate and --url. Replay pages chain to every record once; tail prints
 * a record published after it started.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog, auditDirOf } from '../../src/audit/audit-log.ts';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { CLI_TIMEOUT, publish } from './cli-helpers.ts';
import { BIN, runCli } from './run-cli.ts';

type Line = Record<string, unknown>;
const parse = (text: string): Line[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

describe('thingiq records replay and tail against a running gateway', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let stopped = false;
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    gw = await startGateway(pki, { admin: { port: 0, mtlsPort: 0, replaySettleMs: 50, tailPollMs: 50 } });
    await publish(gw.port, pki.device('acme', 'truck-1'), 'truck-1', 3);
    await publish(gw.port, pki.device('acme', 'van-4'), 'van-4', 2);
  }, 60_000);
  afterAll(async () => { if (!stopped) await gw?.gateway.close(); });

  it('replay as the local operator: a limited page, then the rest from its cursor; audited with the operator as actor', async () => {
    const first = await cli('records', 'replay', '--tenant', 'acme', '--limit', '2');
    expect(first.code, first.stderr).toBe(0);
    const a = parse(first.stdout);
    expect(a.slice(0, -1).map((l) => l['type'])).toEqual(['record', 'record']);
    expect(a.at(-1)).toMatchObject({ type: 'end', count: 2, more: true });
    const rest = await cli('records', 'replay', '--tenant', 'acme', '--cursor', String(a.at(-1)!['nextCursor']));
    expect(rest.code, rest.stderr).toBe(0);
    const b = parse(rest.stdout);
    expect(b.at(-1)).toMatchObject({ type: 'end', count: 3, more: false });
    const ids = [...a, ...b].filter((l) => l['type'] === 'record').map((l) => l['recordId']);
    expect(new Set(ids).size).toBe(5);
    expect((await gw.gateway.admin!.audit.query({ action: 'records.replay', actor: 'operator:local' })).length).toBeGreaterThanOrEqual(2);
  }, CLI_TIMEOUT);

  it('replay as an app with its certificate and --url: only its grant (trucks, location)', async () => {
    const app = pki.app('acme', 'trucks-only');
    const r = await cli('records', 'replay', '--tenant', 'acme', '--url', `https://localhost:${gw.gateway.adminPorts.mtlsPort}`,
      '--ca', app.caPath, '--cert', app.certPath, '--key', app.keyPath);
    expect(r.code, r.stderr).toBe(0);
    const records = parse(r.stdout).filter((l) => l['type'] === 'record');
    expect(records.map((l) => l['deviceId'])).toEqual(['truck-1', 'truck-1', 'truck-1']);
  }, CLI_TIMEOUT);

  it('replay from another tenant\'s app is refused with the API\'s code', async () => {
    const app = pki.app('globex', 'dashboard');
    const r = await cli('records', 'replay', '--tenant', 'acme', '--url', `https://localhost:${gw.gateway.adminPorts.mtlsPort}`,
      '--ca', app.caPath, '--cert', app.certPath, '--key', app.keyPath);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TIQ_ERR_NOT_FOUND');
    expect(r.stdout).toBe('');
  }, CLI_TIMEOUT);

  it('tail prints a record stored after it started, and stops when interrupted', async () => {
    const child = spawn(process.execPath, [BIN, '--config', configFile, 'records', 'tail', '--tenant', 'acme', '--device', 'truck-5'], { cwd: pki.baseDir });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      const device = await connect(gw.port, pki.device('acme', 'truck-5'), { clientId: 'truck-5' });
      const deadline = Date.now() + 120_000;
      let sent = 0;
      while (!out.includes('"deviceId":"truck-5"') && Date.now() < deadline) {
        // Published until one shows up: the binary may still be starting (it builds on first use).
        if (sent < 50) { await device.publishAsync('tenants/acme/devices/truck-5/location', encode(VEHICLE, vehicle()), { qos: 1 }); sent++; }
        await new Promise((r) => setTimeout(r, 500));
      }
      await device.endAsync();
      const records = parse(out).filter((l) => l['type'] === 'record');
      expect(records.length, err).toBeGreaterThan(0);
      expect(records.every((l) => l['deviceId'] === 'truck-5')).toBe(true);
      expect(new Set(records.map((l) => l['recordId'])).size).toBe(records.length);
    } finally {
      child.kill('SIGINT');
    }
    // SIGINT ends it (killed by the signal: no exit code).
    expect(await exited).toBeNull();
  }, CLI_TIMEOUT);

  it('with no gateway running, replay reads the sinks itself as the local operator, audited offline; tail needs a gateway', async () => {
    await gw.gateway.close();
    stopped = true;
    const r = await cli('records', 'replay', '--tenant', 'acme', '--device', 'van-4');
    expect(r.code, r.stderr).toBe(0);
    const lines = parse(r.stdout);
    expect(lines.filter((l) => l['type'] === 'record').map((l) => l['deviceId'])).toEqual(['van-4', 'van-4']);
    expect(lines.at(-1)).toMatchObject({ type: 'end', count: 2, more: false });
    const entries = new AuditLog(auditDirOf(dataDir)).query({ action: 'records.replay', actor: 'operator:local', limit: 10_000 });
    expect(entries.at(-1)?.detail).toMatch(/^offline from=c1\.\S+ next=c1\.\S+ records=2$/);
    const tail = await cli('records', 'tail', '--tenant', 'acme');
    expect(tail.code).toBe(1);
    expect(tail.stderr).toContain('TIQ_ERR_UNREACHABLE');
  }, CLI_TIMEOUT);
});
