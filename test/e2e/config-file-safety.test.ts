/**
 * The config file of a running `thingiq start`, rewritten as careless editors
 * and copies do: empty, truncated, not a mapping, half-written YAML. Each is
 * refused with TIQ_ERR_CONFIG in the log and the configuration in force
 * stays: devices keep publishing, apps keep receiving. A valid change (also
 * one written by rename) applies; a change of a restart-only section is
 * reported as needing a restart and the running values stay.
 */
import type { ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startCli } from '../cli/run-cli.ts';
import { connect, sleep, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const BASE = {
  mqtt: { host: '127.0.0.1', port: 0 },
  admin: { enabled: false },
  pkiDir: 'certs',
  dataDir: 'data',
  tenants: { acme: { apps: { dashboard: {}, reports: {} } } },
};

describe('a running gateway whose config file is rewritten', () => {
  const pki = new TestPki();
  const file = join(pki.baseDir, 'gateway.yaml');
  let child: ChildProcess;
  let output: () => string;
  let port = 0;
  let device: MqttClient;
  let app: MqttClient;
  let sub: Awaited<ReturnType<typeof subscribe>>;
  let seq = 0;

  const events = (event: string) => output().split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === event);
  async function nextEvent(event: string, before: number, timeoutMs = 8000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (events(event).length <= before && Date.now() < deadline) await sleep(50);
    const found = events(event)[before];
    if (!found) throw new Error(`no ${event} log line`);
    return found;
  }
  /** Publishes once more and waits until the app has it: the configuration in force still serves. */
  async function stillServes(): Promise<void> {
    const n = sub.received.length;
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle({ sequence: ++seq })), { qos: 1 });
    expect((await sub.next(n + 1)).length).toBe(n + 1);
  }

  beforeAll(async () => {
    writeFileSync(file, stringify(BASE));
    ({ child, output } = await startCli(pki.baseDir, ['--config', 'gateway.yaml']));
    port = events('listening')[0]!['port'] as number;
    device = await connect(port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    app = await connect(port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
    sub = await subscribe(app, 'tenants/acme/#');
    await stillServes();
  });
  afterAll(async () => {
    device?.end(true);
    app?.end(true);
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  const BAD: [string, string][] = [
    ['empty', ''],
    ['only a comment', '# being rewritten\n'],
    ['truncated before tenants', 'mqtt:\n  host: 127.0.0.1\n  port: 0\nadmin:\n  enabled: false\n'],
    ['a list', '- tenants\n- acme\n'],
    ['a string', 'tenants acme\n'],
    ['half-written YAML with a secret in it', 'tenants:\n  acme: { apps: { dashboard: {} } }\nstorage:\n  sinks:\n    eu: { type: postgres, connectionString: "postgres://u:hunter2@db/x'],
    ['tenants cut off', 'pkiDir: certs\ndataDir: data\ntenants:\n'],
  ];

  for (const [what, text] of BAD) {
    it(`${what}: refused with TIQ_ERR_CONFIG, the old configuration keeps serving`, async () => {
      const before = events('reload_refused').length;
      const closedBefore = events('access_withdrawn_disconnect').length;
      writeFileSync(file, text);
      const refusal = await nextEvent('reload_refused', before);
      expect(refusal['code']).toBe('TIQ_ERR_CONFIG');
      expect((refusal['problems'] as string[]).length).toBeGreaterThan(0);
      expect(JSON.stringify(refusal)).not.toContain('hunter2');
      expect(device.connected).toBe(true);
      expect(app.connected).toBe(true);
      await stillServes();
      expect(events('access_withdrawn_disconnect').length).toBe(closedBefore);
      // A new connection is admitted under the configuration in force.
      const other = await connect(port, pki.app('acme', 'reports'), { clientId: `reports-${before}` });
      other.end(true);
    });
  }

  it('a valid change written by rename applies; the refused files before it changed nothing', async () => {
    const before = events('config_reloaded').length;
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, stringify({ ...BASE, tenants: { acme: { apps: { dashboard: {} } } } }));
    renameSync(tmp, file);
    const reloaded = await nextEvent('config_reloaded', before);
    expect(reloaded['sections']).toEqual(['tenants']);
    await expect(connect(port, pki.app('acme', 'reports'), { clientId: 'reports-late' })).rejects.toThrow();
    await stillServes();
  });

  it('a restart-only change is reported as such, not as reloaded, and the running values stay', async () => {
    const reloadedBefore = events('config_reloaded').length;
    const restartBefore = events('config_restart_required').length;
    const unchangedBefore = events('config_unchanged').length;
    writeFileSync(file, stringify({ ...BASE, mqtt: { ...BASE.mqtt, port: 1 }, dataDir: 'elsewhere', tenants: { acme: { apps: { dashboard: {} } } } }));
    const restart = await nextEvent('config_restart_required', restartBefore);
    expect(restart['sections']).toEqual(['dataDir', 'mqtt']);
    // The gateway logs both lines in one reload; the child's stdout may hand them over in two reads.
    await nextEvent('config_unchanged', unchangedBefore);
    expect(events('config_reloaded').length).toBe(reloadedBefore);
    // Still on the same port and data directory.
    await stillServes();
    (await connect(port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' })).end(true);
  });
});
