/**
 * The tenant isolation matrix for MQTT 5 clients (the 3.1.1 matrix is
 * isolation.test.ts): every way across tenants is refused with a reason
 * code, the attacker may stay connected, and the victim receives nothing.
 * Includes what only MQTT 5 offers: topic aliases and user properties.
 */
import { spawn, spawnSync } from 'node:child_process';
import type mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, sleep, startGateway, subackCode, subscribe } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { RawMqtt5 } from '../helpers/raw-mqtt5.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { useIsolationRig } from './isolation-rig.ts';

const V5 = { protocolVersion: 5 } as const;
const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI (.ci/run installs them)');

function publish(topic: string, messageId: number, extra: Partial<mqttPacket.IPublishPacket> = {}): mqttPacket.IPublishPacket {
  return { cmd: 'publish', topic, payload: encode(VEHICLE, vehicle()), qos: 1, messageId, retain: false, dup: false, ...extra };
}

describe('tenant isolation, MQTT 5', () => {
  const rig = useIsolationRig(5, { mqtt: { maxRefusalsBeforeDisconnect: 10 } });
  const { pki, clients } = rig;

  async function rawDevice(id: string): Promise<RawMqtt5> {
    const raw = await RawMqtt5.open(rig.gw.port, pki.device('acme', id));
    expect((await raw.connectAs(id))?.reasonCode).toBe(0);
    return raw;
  }

  it.each([
    ['another tenant\'s topic', 'tenants/globex/devices/x-1/location'],
    ['another device\'s topic of its own tenant', 'tenants/acme/devices/truck-1/location'],
    ['$SYS', '$SYS/fake/heartbeat'],
    ['a path-traversal spelling', 'tenants/acme/../globex/devices/x-1/location'],
  ])('a device publishing to %s gets PUBACK 0x87, stays connected, and nothing arrives', async (_what, topic) => {
    const id = `x-${Math.random().toString(36).slice(2, 8)}`;
    const raw = await rawDevice(id);
    raw.send(publish(topic, 1));
    expect(await raw.waitFor(() => raw.pubacks().length === 1)).toBe(true);
    expect(raw.pubacks()[0]?.reasonCode).toBe(0x87);
    expect(raw.closed).toBe(false);
    raw.end();
  });

  it('a topic alias set on another tenant\'s topic is refused and forgotten: reusing it is an unknown alias (0x94)', async () => {
    const raw = await rawDevice('alias-1');
    raw.send(publish('tenants/globex/devices/alias-1/location', 1, { properties: { topicAlias: 1 } }));
    expect(await raw.waitFor(() => raw.pubacks().length === 1)).toBe(true);
    expect(raw.pubacks()[0]?.reasonCode).toBe(0x87);
    raw.send(publish('', 2, { properties: { topicAlias: 1 } }));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()?.reasonCode).toBe(0x94);
  });

  it('an app publishing gets PUBACK 0x87 and nothing arrives', async () => {
    const app = await RawMqtt5.open(rig.gw.port, pki.app('acme', 'dashboard'));
    expect((await app.connectAs('dash-pub'))?.reasonCode).toBe(0);
    app.send(publish('tenants/globex/devices/x-1/location', 1));
    expect(await app.waitFor(() => app.pubacks().length === 1)).toBe(true);
    expect(app.pubacks()[0]?.reasonCode).toBe(0x87);
    app.end();
  });

  it.each([
    ['#'], ['+/#'], ['tenants/#'], ['tenants/+/devices/+/location'], ['tenants/globex/#'], ['$SYS/#'], ['tenants/acme'],
  ])('an app subscribing to %s gets SUBACK 0x87', async (filter) => {
    const c = await connect(rig.gw.port, pki.app('acme', 'dashboard'), { ...V5, clientId: `dash-${Math.random().toString(36).slice(2)}` });
    clients.push(c);
    expect(await subackCode(c, filter)).toBe(0x87);
  });

  it('$share filters outside the tenant get 0x87; one inside it is granted', async () => {
    const c = await connect(rig.gw.port, pki.app('acme', 'dashboard'), { ...V5, clientId: 'dash-share' });
    clients.push(c);
    expect(await subackCode(c, '$share/g/tenants/globex/#')).toBe(0x87);
    expect(await subackCode(c, '$share/g/#')).toBe(0x87);
    expect(await subackCode(c, '$share/g/tenants/+/devices/#')).toBe(0x87);
    expect(await subackCode(c, '$share/g/tenants/acme/#')).toBe(1);
  });

  it('a will aimed at another tenant refuses the CONNECT with 0x87', async () => {
    await expect(connect(rig.gw.port, pki.device('acme', 'will-1'), {
      ...V5, clientId: 'will-1', will: { topic: 'tenants/globex/devices/will-1/location', payload: Buffer.from('x'), qos: 1, retain: false },
    })).rejects.toMatchObject({ code: 0x87 });
  });

  it('a device\'s own policy user properties are replaced by the gateway\'s', async () => {
    const app = await connect(rig.gw.port, pki.app('acme', 'dashboard'), { ...V5, clientId: 'dash-props' });
    clients.push(app);
    const inbox = await subscribe(app, 'tenants/acme/devices/props-1/location');
    const got: mqttPacket.IPublishPacket[] = [];
    app.on('message', (_t, _p, packet) => got.push(packet as mqttPacket.IPublishPacket));
    const dev = await connect(rig.gw.port, pki.device('acme', 'props-1'), { ...V5, clientId: 'props-1' });
    clients.push(dev);
    await dev.publishAsync('tenants/acme/devices/props-1/location', encode(VEHICLE, vehicle()), { qos: 1, properties: { userProperties: { 'thingiq-policy-id': 'forged' } } });
    await inbox.next(1);
    expect(got[0]?.properties?.userProperties?.['thingiq-policy-id']).not.toBe('forged');
  });

  it('the victim received nothing from any of it', async () => {
    await sleep(300);
    expect(rig.sub.received).toEqual([]);
  });
});

describe.skipIf(!haveMosquitto)('mosquitto clients, MQTT 5', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  const tlsArgs = (pem: ClientPem, clientId: string) =>
    ['-h', 'localhost', '-p', String(gw.port), '--cafile', pem.caPath, '--cert', pem.certPath, '--key', pem.keyPath, '-i', clientId, '-V', 'mqttv5'];

  /** mosquitto_pub does not exit after a refused QoS 1 PUBLISH in every version: it is stopped after `killAfterMs`. */
  function run(cmd: string, args: string[], killAfterMs = 15_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const child = spawn(cmd, args);
    const timer = setTimeout(() => child.kill(), killAfterMs);
    child.on('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  }

  it('mosquitto_pub -V mqttv5 reaches mosquitto_sub -V mqttv5 with the policy user properties', async () => {
    const app = pki.app('acme', 'dashboard');
    const received = run('mosquitto_sub', [...tlsArgs(app, 'dash5'), '-t', 'tenants/acme/devices/+/location', '-C', '1', '-W', '10', '-F', '%t %P']);
    await sleep(700);
    const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 1, latitude: 48.85, longitude: 2.29, speedMps: 10 });
    const pub = await run('mosquitto_pub', [...tlsArgs(pki.device('acme', 'truck-1'), 'truck-1'), '-q', '1', '-t', 'tenants/acme/devices/truck-1/location', '-m', json]);
    expect(pub.status).toBe(0);
    const out = (await received).stdout.trim();
    expect(out).toContain('tenants/acme/devices/truck-1/location');
    expect(out).toContain('thingiq-policy-id');
  });

  it('mosquitto_pub -V mqttv5 to another tenant\'s topic is told "not authorized" (PUBACK 0x87)', async () => {
    // Line-buffered, so what it printed survives the kill.
    const pub = await run('stdbuf', ['-oL', '-eL', 'mosquitto_pub', ...tlsArgs(pki.device('acme', 'truck-2'), 'truck-2'), '-q', '1', '-t', 'tenants/globex/devices/truck-2/location', '-m', '{}', '-d'], 4000);
    expect(`${pub.stdout}${pub.stderr}`).toMatch(/not authori[sz]ed|rc:135|reason code 135|\(135\)/i);
  });

  it('mosquitto_sub -V mqttv5 of another tenant gets SUBACK 0x87 and nothing', async () => {
    const spy = await run('mosquitto_sub', [...tlsArgs(pki.app('globex', 'dashboard'), 'spy5'), '-t', 'tenants/acme/#', '-C', '1', '-W', '2', '-d']);
    expect(spy.stdout).not.toContain('tenants/acme/devices');
    expect(`${spy.stdout}${spy.stderr}`).toMatch(/135|0x87|not authori[sz]ed/i);
  });
});
