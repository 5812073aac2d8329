/**
 * `thingiq start --workers 2` as a real process tree from dist/ on a real
 * PostgreSQL: both workers are cluster nodes in the membership table and
 * serve MQTT on the one port; a killed worker is restarted; SIGTERM drains
 * them all and the primary exits 0. No idempotency.key is needed or made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { stringify } from 'yaml';
import { BIN, runCli } from '../cli/run-cli.ts';
import { workerConfig, workerDataDir, workerRawConfig } from '../../src/cli/workers.ts';
import { parseConfig } from '../../src/config/load.ts';
import { connect } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { encode, sensor, SENSOR } from '../helpers/telemetry.ts';
import { writeClusterSecrets } from './harness/shared-state.ts';

describe('thingiq start --workers without the cluster section', () => {
  test('is refused with TIQ_ERR_CONFIG (exit 2); a bad worker count too', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-workers-'));
    writeFileSync(join(cwd, 'gateway.yaml'), stringify({ mqtt: { host: '127.0.0.1', port: 0 }, admin: { enabled: false }, tenants: {} }));
    const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start', '--workers', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TIQ_ERR_CONFIG');
    expect(r.stderr).toContain('- --workers');
    const bad = await runCli(cwd, ['--config', 'gateway.yaml', 'start', '--workers', 'zero']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('TIQ_ERR_CONFIG');
  });
});

describe('a worker\'s configuration', () => {
  test('its own data directory below dataDir; the machine\'s root key and keyring unless configured; the same for a reload', () => {
    const raw = { dataDir: 'var/data', tenants: {}, keys: { local: { rootKeyEnv: 'MY_KEY' } } };
    const w2 = workerRawConfig(raw, '/srv/tiq', 2) as { dataDir: string; keys: { local: Record<string, unknown> } };
    expect(w2.dataDir).toBe(join('/srv/tiq/var/data', 'workers', 'w2'));
    expect(w2.dataDir).toBe(workerDataDir('/srv/tiq/var/data', 2));
    expect(w2.keys.local).toEqual({ rootKeyEnv: 'MY_KEY', keyringFile: '/srv/tiq/var/data/keyring.json', rootKeyFile: '/srv/tiq/var/data/root.key' });
    const configured = workerRawConfig({ tenants: {}, keys: { local: { rootKeyFile: '/etc/tiq/root.key' } } }, '/srv/tiq', 1) as typeof w2;
    expect(configured.dataDir).toBe('/srv/tiq/data/workers/w1');
    expect(configured.keys.local['rootKeyFile']).toBe('/etc/tiq/root.key');
    // A parsed config adapts to the same values (what the worker starts with, and what a reload compares with).
    const parsed = workerConfig(parseConfig(raw), '/srv/tiq', 2);
    expect(parsed.dataDir).toBe(w2.dataDir);
    expect(parsed.keys?.local).toMatchObject(w2.keys.local);
    expect(parseConfig(w2)).toEqual(parsed);
  });
});

const available = await startTestPostgres();

interface Line { event?: string; pid?: number; port?: number; worker?: number }

if (!available.ok) {
  describe.skip(`thingiq start --workers (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  /** A directory ready for cluster mode: shared secrets, the PKI, and a config on the test's PostgreSQL. */
  async function clusterDir(port = 0): Promise<{ cwd: string; pki: TestPki; control: string }> {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-workers-'));
    const pki = new TestPki(cwd);
    const control = await server.newDatabase();
    const sink = await server.newDatabase();
    mkdirSync(join(cwd, 'data'), { mode: 0o700 });
    // The root key where --workers finds the machine's (in <dataDir>), the ticket secret beside the config.
    writeClusterSecrets({ rootKeyFile: join(cwd, 'data', 'root.key'), secretFile: join(cwd, 'tickets.secret') });
    writeFileSync(join(cwd, 'gateway.yaml'), stringify({
      mqtt: { host: '127.0.0.1', port }, admin: { enabled: false }, log: { level: 'info' },
      tenants: { acme: {} },
      controlStore: { type: 'postgres', connectionString: control },
      storage: { sinks: { default: { type: 'postgres', connectionString: sink } } },
      cluster: { nodeId: 'box', nats: { servers: ['nats://127.0.0.1:4222'] }, sessionTickets: { secretFile: 'tickets.secret' }, heartbeatMs: 500, memberTimeoutMs: 3000 },
    }));
    return { cwd, pki, control };
  }

  test('a port in use: the workers cannot listen, and the primary exits 3 instead of restarting them', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const { cwd } = await clusterDir((blocker.address() as { port: number }).port);
      const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start', '--workers', '2']);
      expect(r.code).toBe(3);
      expect(r.stdout + r.stderr).toContain('"event":"worker_refused"');
    } finally {
      blocker.close();
    }
  }, 120_000);

  test('two workers: both in the membership table, MQTT served on the one port, a killed worker restarted, SIGTERM drains all', async () => {
    const { cwd, pki, control } = await clusterDir();
    const lines: Line[] = [];
    let out = '';
    const child: ChildProcess = spawn(process.execPath, [BIN, '--config', 'gateway.yaml', 'start', '--workers', '2'], { cwd });
    const collect = (d: Buffer) => {
      out += d.toString();
      const parts = out.split('\n');
      out = parts.pop() ?? '';
      for (const p of parts) {
        try { lines.push(JSON.parse(p) as Line); } catch { /* a non-JSON line (stderr text) */ }
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const db = new pg.Client({ connectionString: control });
    try {
      const listening = () => lines.filter((l) => l.event === 'listening');
      await vi.waitFor(() => expect(listening().length).toBe(2), { timeout: 60_000, interval: 100 });
      const ports = new Set(listening().map((l) => l.port));
      expect(ports.size).toBe(1);
      const port = [...ports][0]!;
      expect(port).toBeGreaterThan(0);
      await db.connect();
      const members = async () => (await db.query<{ node_id: string; pid: number }>('SELECT node_id, pid FROM cluster_members ORDER BY node_id')).rows;
      await vi.waitFor(async () => expect((await members()).map((m) => m.node_id)).toEqual(['box-w1', 'box-w2']), { timeout: 10_000, interval: 100 });
      const before = await members();
      expect(new Set(before.map((m) => m.pid)).size).toBe(2);
      expect(before.every((m) => m.pid !== child.pid)).toBe(true);

      // Devices on the one port, each message acknowledged (stored) by whichever worker took the connection.
      for (let i = 0; i < 4; i++) {
        const device = await connect(port, pki.device('acme', `d${i}`), { clientId: `d${i}` });
        await device.publishAsync(`tenants/acme/devices/d${i}/sensor`, encode(SENSOR, sensor()), { qos: 1 });
        await device.endAsync();
      }

      // kill -9 of worker 1: the other keeps serving at once, and the primary starts a new worker 1.
      const w1 = before.find((m) => m.node_id === 'box-w1')!;
      process.kill(w1.pid, 'SIGKILL');
      // Once the primary has seen the death (it hands no more connections to that worker), the survivor serves.
      await vi.waitFor(() => expect(lines.some((l) => l.event === 'worker_restarting' && l.worker === 1)).toBe(true), { timeout: 10_000, interval: 50 });
      const device = await connect(port, pki.device('acme', 'after-kill'), { clientId: 'after-kill' });
      await device.publishAsync('tenants/acme/devices/after-kill/sensor', encode(SENSOR, sensor()), { qos: 1 });
      await device.endAsync();
      await vi.waitFor(async () => {
        const now = await members();
        expect(now.find((m) => m.node_id === 'box-w1')?.pid).not.toBe(w1.pid);
        expect(now.map((m) => m.node_id)).toEqual(['box-w1', 'box-w2']);
      }, { timeout: 30_000, interval: 200 });
      await vi.waitFor(() => expect(listening().length).toBe(3), { timeout: 30_000, interval: 100 });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines.filter((l) => l.event === 'closed')).toHaveLength(2);
      // Clean shutdowns removed their rows.
      expect(await members()).toEqual([]);
      // The digest key came from the cluster secret: no idempotency.key was asked for, made or linked anywhere.
      for (const dir of [join(cwd, 'data'), workerDataDir(join(cwd, 'data'), 1), workerDataDir(join(cwd, 'data'), 2)]) {
        expect(existsSync(dir)).toBe(true);
        expect(existsSync(join(dir, 'idempotency.key'))).toBe(false);
      }
    } finally {
      child.kill('SIGKILL');
      await db.end().catch(() => undefined);
    }
  }, 150_000);
}
