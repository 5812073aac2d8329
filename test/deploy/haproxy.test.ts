/**
 * deploy/haproxy/haproxy.cfg as shipped, run by the real HAProxy in front of
 * three real gateways (in-process, port 0, each with its own data directory,
 * one CA): a device connecting through it is seen by its gateway with its own
 * address (PROXY protocol v2), the HTTPS health checks on /readyz verify the
 * gateways' certificate, and a gateway stopped is marked down while its
 * device reconnects through HAProxy to another.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkiPaths } from '../../src/pki/pki-store.ts';
import { freePort } from '../helpers/free-port.ts';
import { clientOptions, sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const HAPROXY_CFG = join(import.meta.dirname, '../../deploy/haproxy/haproxy.cfg');
const haveHaproxy = spawnSync('haproxy', ['-v']).error === undefined;
const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (process.env['CI'] === 'true' && !(haveHaproxy && haveMosquitto)) throw new Error('haproxy and mosquitto_pub are required under CI (.ci/run installs them)');
/** The device's own address: another loopback address than the one HAProxy connects from. */
const DEVICE_ADDRESS = '127.0.0.2';

async function until(what: string, cond: () => boolean, log: () => string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; HAProxy said:\n${log()}`);
    await sleep(50);
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** HAProxy with deploy/haproxy/haproxy.cfg as is, its addresses and ports from the environment; resolves once it listens. */
async function startHaproxy(gateways: readonly { port: number; gateway: { adminPorts: { port: number } } }[], caFile: string): Promise<{ process: ChildProcess; port: number; output: () => string }> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    TIQ_LB_MQTT_BIND: `127.0.0.1:${port}`,
    TIQ_CA_FILE: caFile,
    TIQ_SERVER_NAME: 'localhost',
    // The check's TLS handshake must finish within one interval, on a loaded machine too.
    TIQ_LB_CHECK_INTER: '1s',
    TIQ_LB_MAXCONN: '1000',
  };
  gateways.forEach((g, i) => {
    env[`TIQ_GW${i + 1}_HOST`] = '127.0.0.1';
    env[`TIQ_GW${i + 1}_MQTT_PORT`] = String(g.port);
    env[`TIQ_GW${i + 1}_ADMIN_PORT`] = String(g.gateway.adminPorts.port);
  });
  let text = '';
  const child = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start:\n${text}`);
    await sleep(50);
  }
  return { process: child, port, output: () => text };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

describe.skipIf(!haveHaproxy || !haveMosquitto)('HAProxy in front of three gateways (deploy/haproxy/haproxy.cfg)', () => {
  const pki = new TestPki();
  const gateways: Awaited<ReturnType<typeof startGateway>>[] = [];
  let haproxy: ChildProcess;
  let output: () => string = () => '';
  let lbPort = 0;
  const clients: MqttClient[] = [];
  const stopped = new Set<number>();

  beforeAll(async () => {
    for (let i = 1; i <= 3; i++) {
      gateways.push(await startGateway(pki, {
        dataDir: `${pki.baseDir}/data-${i}`,
        mqtt: { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] },
      }));
    }
    const lb = await startHaproxy(gateways, pkiPaths(pki.dir).caCert);
    haproxy = lb.process;
    lbPort = lb.port;
    output = lb.output;
    // A few rounds of health checks, all passing.
    await sleep(2500);
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    if (haproxy) await stop(haproxy);
    for (const [i, g] of gateways.entries()) if (!stopped.has(i)) await g.gateway.close(100);
  });

  /** Which gateways count a connection from the device's address. */
  const holding = () => gateways.map((g, i) => (g.gateway.limits!.perAddress.count(DEVICE_ADDRESS) > 0 ? i : -1)).filter((i) => i >= 0);

  it('health checks over verified HTTPS find every gateway ready: no certificate or HTTP status failure', () => {
    expect(output()).not.toMatch(/SSL handshake failure|Layer7 wrong status|Layer7 invalid response/);
  });

  it('mosquitto_pub through HAProxy: a QoS 1 message is acknowledged (stored by one of the gateways)', async () => {
    const pem = pki.device('acme', 'lb-mosq');
    const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 1, latitude: 48.85, longitude: 2.29, speedMps: 10 });
    // Not spawnSync: the gateways run in this process and must keep answering.
    const pub = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(lbPort), '--cafile', pem.caPath, '--cert', pem.certPath, '--key', pem.keyPath,
      '-i', 'lb-mosq', '-q', '1', '-t', 'tenants/acme/devices/lb-mosq/location', '-m', json], { timeout: 15_000 });
    let stderr = '';
    pub.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [status] = await once(pub, 'close') as [number | null];
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('a device through HAProxy is seen with its own address; when its gateway stops, HAProxy marks it down and the device reconnects to another', async () => {
    const pem = pki.device('acme', 'lb-1');
    let connects = 0;
    const client = mqtt.connect({ ...clientOptions(lbPort, pem, { clientId: 'lb-1', servername: 'localhost', reconnectPeriod: 200 }), localAddress: DEVICE_ADDRESS } as mqtt.IClientOptions);
    clients.push(client);
    client.on('connect', () => { connects++; });
    client.on('error', () => undefined);
    await until('the first CONNACK', () => connects === 1, output);
    await until('a gateway counting the device', () => holding().length === 1, output);
    const first = holding()[0]!;
    // HAProxy's own address (127.0.0.1) is counted nowhere: the header carried the device's.
    for (const g of gateways) expect(g.gateway.limits!.perAddress.count('127.0.0.1')).toBe(0);
    await client.publishAsync('tenants/acme/devices/lb-1/location', encode(VEHICLE, vehicle()), { qos: 1 });

    stopped.add(first);
    await gateways[first]!.gateway.close(100);
    await until(`gw${first + 1} marked down`, () => new RegExp(`gateways/gw${first + 1} is DOWN`).test(output()), output);
    await until('the device back through HAProxy', () => connects === 2 && client.connected, output);
    await until('another gateway counting the device', () => holding().some((i) => i !== first), output);
    expect(holding()).not.toContain(first);
    await client.publishAsync('tenants/acme/devices/lb-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
  }, 60_000);

  it('the health check trusts only the configured CA: with another CA every gateway is marked down', async () => {
    const foreign = new TestPki();
    const lb = await startHaproxy(gateways, pkiPaths(foreign.dir).caCert);
    try {
      const live = gateways.length - stopped.size;
      await until('gateways marked down for their certificate', () => (lb.output().match(/is DOWN.*SSL handshake failure/g) ?? []).length >= live, lb.output);
    } finally {
      await stop(lb.process);
    }
  }, 30_000);
});
