/** The README walk-through's clients: mosquitto_pub and mosquitto_sub against the gateway over mutual TLS. */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoTls } from '../helpers/device-maker.ts';
import { sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI (.ci/run installs them)');

describe.skipIf(!haveMosquitto)('mosquitto clients', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  function subscriber(pem: ClientPem, filter: string, count: number) {
    const child = spawn('mosquitto_sub', [...mosquittoTls(gw.port, pem, 'dash'), '-t', filter, '-C', String(count), '-W', '10', '-F', '%t %x']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    return new Promise<string[]>((resolve) => child.on('close', () => resolve(out.trim().split('\n').filter(Boolean))));
  }

  // Asynchronous: the gateway runs in this process, a synchronous spawn would stall it.
  function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string }> {
    const child = spawn(cmd, args);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout })));
  }

  function publish(pem: ClientPem, clientId: string, topic: string, payloadArgs: string[]) {
    return run('mosquitto_pub', [...mosquittoTls(gw.port, pem, clientId), '-q', '1', '-t', topic, ...payloadArgs]);
  }

  it('a JSON and a protobuf message from mosquitto_pub reach mosquitto_sub, decoded', async () => {
    const app = pki.app('acme', 'dashboard');
    const device = pki.device('acme', 'truck-1');
    const received = subscriber(app, 'tenants/acme/devices/+/location', 2);
    await sleep(500);
    const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 1, latitude: 48.85, longitude: 2.29, speedMps: 10 });
    expect((await publish(device, 'truck-1', 'tenants/acme/devices/truck-1/location', ['-m', json])).status).toBe(0);
    const file = join(pki.baseDir, 'fix.pb');
    writeFileSync(file, encode(VEHICLE, vehicle({ sequence: 2, tripId: 'trip-mosq' })));
    expect((await publish(device, 'truck-1', 'tenants/acme/devices/truck-1/location', ['-f', file])).status).toBe(0);
    const lines = await received;
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => { const [t, hex] = l.split(' '); return { t, body: decode(VEHICLE, Buffer.from(hex!, 'hex')) }; });
    expect(first!.t).toBe('tenants/acme/devices/truck-1/location');
    expect(first!.body['latitude']).toBe(48.85);
    expect(second!.body['tripId']).toBe('trip-mosq');
  });

  it('mosquitto_sub with an app of another tenant gets nothing of acme', async () => {
    const spy = pki.app('globex', 'dashboard');
    const child = await run('mosquitto_sub', [...mosquittoTls(gw.port, spy, 'spy'), '-t', 'tenants/acme/#', '-C', '1', '-W', '2']);
    expect(child.stdout).toBe('');
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_SUBSCRIBE_DENIED')).toBeGreaterThan(0);
  });

  it('mosquitto_pub with a device certificate and a foreign client id is refused', async () => {
    const r = await publish(pki.device('acme', 'truck-2'), 'truck-1', 'tenants/acme/devices/truck-2/location', ['-m', '{}']);
    expect(r.status).not.toBe(0);
  });
});
