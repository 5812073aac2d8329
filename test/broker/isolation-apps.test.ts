/**
 * Tenant isolation, extended to what tenant apps gained: the WebSocket
 * listeners (bearer tokens and certificates), `$share` filters and the
 * lifecycle-event topics. The victim tenant's app, itself over WebSocket,
 * receives nothing but its own tenant's messages and events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connectWss, TestIssuer } from '../helpers/app-tokens.ts';
import { closedWithin, connect, sleep, startGateway, subackCode, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const TENANTS = {
  acme: { apps: { dashboard: { events: true } } },
  globex: { apps: { dashboard: { events: true } } },
};

describe('tenant isolation over WebSocket, $share and events', () => {
  const pki = new TestPki();
  let issuer: TestIssuer;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let victim: Awaited<ReturnType<typeof subscribe>>;
  let victimShared: Awaited<ReturnType<typeof subscribe>>;
  const clients: MqttClient[] = [];
  let n = 0;

  beforeAll(async () => {
    issuer = await TestIssuer.create(pki.baseDir);
    gw = await startGateway(pki, { tenants: TENANTS, admin: { port: 0, mtlsPort: 0, oauth: issuer.oauth() }, websocket: { enabled: true, port: 0, mtlsPort: 0 } });
    const globexToken = await issuer.sign({ roles: ['tenant-reader'], tenant: 'globex' });
    const v = await connectWss(gw.gateway.wsPorts.port, pki.caPem, { clientId: 'victim', username: 'dashboard', password: globexToken });
    const vs = await connectWss(gw.gateway.wsPorts.port, pki.caPem, { clientId: 'victim-shared', username: 'dashboard', password: globexToken });
    clients.push(v, vs);
    victim = await subscribe(v, 'tenants/globex/#');
    victimShared = await subscribe(vs, '$share/g/tenants/globex/#');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  async function acmeOverToken(): Promise<MqttClient> {
    const c = await connectWss(gw.gateway.wsPorts.port, pki.caPem, { clientId: `acme-${n++}`, username: 'dashboard', password: await issuer.sign({ roles: ['tenant-reader'], tenant: 'acme' }) });
    clients.push(c);
    return c;
  }

  async function acmeOverCertificate(): Promise<MqttClient> {
    const pem = pki.app('acme', 'dashboard');
    const c = await connectWss(gw.gateway.wsPorts.mtlsPort, pki.caPem, { clientId: `acme-cert-${n++}`, cert: pem.cert, key: pem.key });
    clients.push(c);
    return c;
  }

  it.each([
    ['#'], ['+/#'], ['tenants/#'], ['tenants/+/devices/+/location'], ['tenants/globex/#'], ['tenants/globex/events/#'],
    ['tenants/+/events/+/connected'], ['$share/g/tenants/globex/#'], ['$share/g/tenants/+/events/#'], ['$share/g/#'], ['$SYS/#'],
  ])('an app over WebSocket (token or certificate) subscribing to %s gets SUBACK 0x80', async (filter) => {
    expect(await subackCode(await acmeOverToken(), filter)).toBe(0x80);
    expect(await subackCode(await acmeOverCertificate(), filter)).toBe(0x80);
  });

  it('an app over WebSocket may not publish anywhere: the connection is closed', async () => {
    for (const topic of ['tenants/globex/devices/van-1/location', 'tenants/globex/events/van-1/connected', 'tenants/acme/devices/truck-1/location']) {
      const c = await acmeOverToken();
      c.publish(topic, encode(VEHICLE, vehicle()), { qos: 1 });
      expect(await closedWithin(c)).toBe(true);
    }
    expect(gw.logs.events('publish_refused').filter((l) => l['code'] === 'TIQ_ERR_TOPIC_DENIED' && l['identity'] === 'app acme/dashboard').length).toBe(3);
  });

  it('a device cannot reach the WebSocket listener as a device, nor forge another tenant\'s events over TLS', async () => {
    const pem = pki.device('acme', 'truck-1');
    await expect(connectWss(gw.gateway.wsPorts.mtlsPort, pki.caPem, { clientId: 'truck-1', cert: pem.cert, key: pem.key })).rejects.toMatchObject({ code: 5 });
    const forger = await connect(gw.port, pem, { clientId: 'truck-1' });
    clients.push(forger);
    forger.publish('tenants/globex/events/van-1/disconnected', '{}', { qos: 1 });
    expect(await closedWithin(forger)).toBe(true);
  });

  it('acme\'s devices and their events reach acme\'s apps, never globex\'s; acme\'s same-named group stays apart', async () => {
    const acmeApp = await acmeOverToken();
    const acmeSub = await subscribe(acmeApp, 'tenants/acme/#');
    const acmeShared = await subscribe(await acmeOverToken(), '$share/g/tenants/acme/#');
    const device = await connect(gw.port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' });
    await device.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await device.endAsync();
    expect((await acmeSub.next(3)).map((m) => m.topic)).toEqual([
      'tenants/acme/events/truck-2/connected', 'tenants/acme/devices/truck-2/location', 'tenants/acme/events/truck-2/disconnected',
    ]);
    expect((await acmeShared.next(3)).length).toBe(3);
  });

  it('the victim received only its own tenant\'s messages and events through all of this', async () => {
    const van = await connect(gw.port, pki.device('globex', 'van-1'), { clientId: 'van-1' });
    await van.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await van.endAsync();
    await victim.next(3);
    await victimShared.next(3);
    await sleep(300);
    const expected = ['tenants/globex/events/van-1/connected', 'tenants/globex/devices/van-1/location', 'tenants/globex/events/van-1/disconnected'];
    expect(victim.received.map((m) => m.topic)).toEqual(expected);
    expect(victimShared.received.map((m) => m.topic)).toEqual(expected);
  });
});
