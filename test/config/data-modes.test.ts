/**
 * The data directory is owner-only: after a real start and real writes (an
 * MQTT publish stored in SQLite, admin API changes), every file is 0600 and
 * every directory 0700, with the CLI's umask and, in-process, with a
 * permissive one. Looser modes left from before are tightened at start with a
 * warning; a readable root key still refuses the start.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { issueIdentity, readCa } from '../../src/pki/pki-store.ts';
import { BIN } from '../cli/run-cli.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

/** Every entry under dir with its permission bits. */
function modes(dir: string): Map<string, { dir: boolean; mode: number }> {
  const out = new Map<string, { dir: boolean; mode: number }>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.set(relative(dir, p), { dir: st.isDirectory(), mode: st.mode & 0o777 });
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function looseEntries(dir: string): string[] {
  return [...modes(dir)].filter(([, m]) => m.mode !== (m.dir ? 0o700 : 0o600)).map(([p, m]) => `${p} ${m.mode.toString(8)}`);
}

function put(port: number, pem: ClientPem, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

let sequence = 0;

/** Publishes one stored message and makes API changes that write state files. */
async function writeEverything(mqttPort: number, adminMtlsPort: number, pem: (kind: 'device' | 'operator') => ClientPem): Promise<void> {
  const device = await connect(mqttPort, pem('device'), { clientId: 'truck-1' });
  await device.publishAsync('tenants/demo/devices/truck-1/location', encode(VEHICLE, vehicle({ sequence: ++sequence })), { qos: 1 });
  await device.endAsync();
  const op = pem('operator');
  expect(await put(adminMtlsPort, op, '/v1/tenants/demo/devices/truck-2/restriction', { mode: 'drop' })).toBe(200);
  expect(await put(adminMtlsPort, op, '/v1/tenants/demo/devices/truck-2/private-mode', { on: true })).toBe(200);
  expect(await put(adminMtlsPort, op, '/v1/tenants/demo/device-groups/vans', { devices: ['van-1'] })).toBe(200);
}

/** Real starts and real writes, on a machine that may be busy. */
const SLOW = 240_000;

const EXPECTED = ['thingiq.db', 'thingiq.db-wal', 'thingiq.db-shm', 'keyring.json', 'root.key', 'audit', 'audit/audit.jsonl', 'control.db', 'thingiq.lock', 'operator'];

describe('data directory modes, thingiq start (the CLI)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'thingiq-modes-'));
  let child: ReturnType<typeof spawn>;
  let out = '';

  beforeAll(async () => {
    writeFileSync(join(cwd, 'gateway.yaml'), stringify({ mqtt: { host: '127.0.0.1', port: 0 }, admin: { port: 0, mtlsPort: 0 }, tenants: { demo: { apps: { dashboard: {} } } } }));
    // The parent's umask is permissive: the modes below come from the CLI and the gateway, not from the test.
    const previous = process.umask(0o022);
    child = spawn(process.execPath, [BIN, '--config', 'gateway.yaml', 'start'], { cwd });
    process.umask(previous);
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => { out += d.toString(); if (out.includes('"event":"admin_listening"')) resolve(); };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
  }, SLOW);
  afterAll(() => { child?.kill('SIGTERM'); });

  it('after a start, a stored message and API changes, files are 0600 and directories 0700', async () => {
    const line = (event: string) => JSON.parse(out.split('\n').find((l) => l.includes(`"event":"${event}"`))!) as Record<string, number>;
    const certs = join(cwd, 'certs');
    const pem = (kind: 'device' | 'operator'): ClientPem => {
      const r = issueIdentity(certs, kind === 'device' ? { kind, tenantId: 'demo', deviceId: 'truck-1', uri: '' } : { kind, operatorName: 'alice', uri: '' }, undefined);
      return { cert: r.certPem, key: r.keyPem!, ca: readCa(certs).certPem, certPath: '', keyPath: '', caPath: '', serial: r.serial };
    };
    await writeEverything(line('listening')['port']!, line('admin_listening')['mtlsPort']!, pem);
    const data = join(cwd, 'data');
    expect(lstatSync(data).mode & 0o777).toBe(0o700);
    for (const p of EXPECTED) expect(existsSync(join(data, p)), p).toBe(true);
    expect(looseEntries(data)).toEqual([]);
  }, SLOW);
});

describe('data directory modes, gateway in-process with a permissive umask', () => {
  const pki = new TestPki();
  const data = join(pki.baseDir, 'data');
  let previous = 0;
  beforeAll(() => { previous = process.umask(0o022); });
  afterAll(() => { process.umask(previous); });
  const tenants = { demo: { apps: { dashboard: {} } } };

  it('creates everything owner-only, and tightens looser modes at the next start with a warning per path', async () => {
    const gw = await startGateway(pki, { tenants });
    await writeEverything(gw.port, gw.gateway.adminPorts.mtlsPort, (kind) => (kind === 'device' ? pki.device('demo', 'truck-1') : pki.operator('alice')));
    for (const p of EXPECTED) expect(existsSync(join(data, p)), p).toBe(true);
    expect(looseEntries(data)).toEqual([]);
    await gw.gateway.close();

    // As an older version (or a copy with cp -r) would have left them; the root key is the exception (below).
    const loosened: string[] = [];
    for (const [p, m] of modes(data)) {
      if (p === 'root.key') continue;
      chmodSync(join(data, p), m.dir ? 0o755 : 0o644);
      loosened.push(p);
    }
    chmodSync(data, 0o755);
    const again = await startGateway(pki, { tenants });
    try {
      const warned = again.logs.events('data_mode_tightened').map((l) => relative(data, String(l['path'])) || '.');
      expect(warned.sort()).toEqual(['.', ...loosened].sort());
      expect(JSON.stringify(again.logs.events('data_mode_tightened'))).not.toContain('"level":50');
      // SQLite recreated -wal and -shm (it removes them on close) with the database file's mode.
      await writeEverything(again.port, again.gateway.adminPorts.mtlsPort, (kind) => (kind === 'device' ? pki.device('demo', 'truck-1') : pki.operator('alice')));
      expect(existsSync(join(data, 'thingiq.db-wal'))).toBe(true);
      expect(looseEntries(data)).toEqual([]);
      expect(lstatSync(data).mode & 0o777).toBe(0o700);
    } finally {
      await again.gateway.close();
    }
  }, SLOW);

  it('a root key file readable by others still refuses the start (TIQ_ERR_KEYRING_SEALED), untouched', async () => {
    chmodSync(join(data, 'root.key'), 0o644);
    await expect(startGateway(pki, { tenants })).rejects.toMatchObject({ code: 'TIQ_ERR_KEYRING_SEALED' });
    expect(lstatSync(join(data, 'root.key')).mode & 0o777).toBe(0o644);
    chmodSync(join(data, 'root.key'), 0o600);
  }, SLOW);
});
