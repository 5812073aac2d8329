/**
 * Tenant isolation matrix: every way a tenant's device or app could reach
 * another tenant's data is refused, and the victim's subscriber receives nothing.
 */
import { describe, expect, it } from 'vitest';
import { closedWithin, connect, sleep, subackCode, subscribe } from '../helpers/gateway.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { useIsolationRig } from './isolation-rig.ts';

describe('tenant isolation', () => {
  const rig = useIsolationRig(4);
  const { pki, clients } = rig;

  async function attacker(kind: 'device' | 'app', id: string, clientId = id) {
    const pem = kind === 'device' ? pki.device('acme', id) : pki.app('acme', id);
    const c = await connect(rig.gw.port, pem, { clientId });
    clients.push(c);
    return c;
  }

  it('a device publishing to another tenant\'s topic is disconnected and nothing arrives', async () => {
    const c = await attacker('device', 'truck-1');
    c.publish('tenants/globex/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await closedWithin(c)).toBe(true);
    expect(rig.gw.logs.events('publish_refused').some((l) => l['code'] === 'TIQ_ERR_TOPIC_DENIED')).toBe(true);
  });

  it('a device publishing to another device\'s topic of its own tenant is disconnected', async () => {
    const c = await attacker('device', 'truck-2');
    c.publish('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await closedWithin(c)).toBe(true);
  });

  it('publishing to $SYS disconnects', async () => {
    const c = await attacker('device', 'truck-3');
    c.publish('$SYS/fake/heartbeat', 'x', { qos: 0 });
    expect(await closedWithin(c)).toBe(true);
  });

  it.each([
    ['#'], ['+/#'], ['+/+/devices/+/location'], ['tenants/#'], ['tenants/+/devices/+/location'],
    ['tenants/globex/#'], ['tenants/globex/devices/+/location'], ['$SYS/#'], ['$share/g/#'], ['$share/g/tenants/+/devices/+/location'],
    ['$share/g/tenants/globex/#'], ['$share/g/tenants/globex/events/#'], ['$share/g/$SYS/#'], ['$share//tenants/acme/#'], ['$share/g'],
    ['tenants/globex/events/+/connected'], ['tenants/+/events/#'], ['tenants/acme'],
  ])('an app subscribing to %s gets SUBACK 0x80', async (filter) => {
    const c = await attacker('app', 'dashboard', `dash-${Math.random().toString(36).slice(2)}`);
    expect(await subackCode(c, filter)).toBe(0x80);
  });

  it('devices may not subscribe at all, even to their own topics', async () => {
    const c = await attacker('device', 'truck-4');
    expect(await subackCode(c, 'tenants/acme/devices/truck-4/location')).toBe(0x80);
  });

  it('a will aimed at another tenant refuses the connection', async () => {
    await expect(connect(rig.gw.port, pki.device('acme', 'truck-5'), {
      clientId: 'truck-5', will: { topic: 'tenants/globex/devices/truck-5/location', payload: Buffer.from('x'), qos: 1, retain: false },
    })).rejects.toThrow(/Not authorized|5/i);
  });

  it('a client id equal to another tenant\'s device id cannot take over its session', async () => {
    // globex/van-1 is connected; acme's device with client id "van-1" connects too.
    const globexDevice = await connect(rig.gw.port, pki.device('globex', 'van-1'), { clientId: 'van-1', clean: false });
    clients.push(globexDevice);
    const acmeVan = await connect(rig.gw.port, pki.device('acme', 'van-1'), { clientId: 'van-1', clean: false });
    clients.push(acmeVan);
    await sleep(300);
    expect(globexDevice.connected).toBe(true);
    // and the globex device still flows
    await globexDevice.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const got = await rig.sub.next(1);
    expect(got.map((m) => m.topic)).toEqual(['tenants/globex/devices/van-1/location']);
  });

  it('a client id different from the certificate\'s device id is refused (identifier rejected)', async () => {
    await expect(connect(rig.gw.port, pki.device('acme', 'truck-6'), { clientId: 'truck-1' })).rejects.toThrow(/Identifier rejected|2/i);
  });

  it('a tenant-A certificate cannot publish into tenant B by any topic spelling', async () => {
    for (const topic of ['tenants/globex/devices/truck-7/location', 'tenants/acme/../globex/devices/truck-7/location', 'tenants/acme/devices/truck-7/../../../globex/devices/x/location']) {
      const c = await attacker('device', 'truck-7');
      c.publish(topic, encode(VEHICLE, vehicle()), { qos: 1 });
      expect(await closedWithin(c)).toBe(true);
    }
  });

  it('an inactive tenant and an unconfigured app are refused at CONNECT', async () => {
    await expect(connect(rig.gw.port, pki.device('dormant', 'd1'), { clientId: 'd1' })).rejects.toThrow(/Not authorized/i);
    await expect(connect(rig.gw.port, pki.app('acme', 'unknown-app'), { clientId: 'x' })).rejects.toThrow(/Not authorized/i);
  });

  it('the victim tenant received only its own device\'s message through all of this', async () => {
    await sleep(200);
    expect(rig.sub.received.map((m) => m.topic)).toEqual(['tenants/globex/devices/van-1/location']);
  });

  it('an app limited by grants sees only its device group and streams, whatever its filter', async () => {
    const limited = await connect(rig.gw.port, pki.app('acme', 'trucks-only'), { clientId: 'limited' });
    clients.push(limited);
    const sub = await subscribe(limited, 'tenants/acme/#');
    const inGroup = await attacker('device', 'truck-2', 'truck-2');
    const outGroup = await attacker('device', 'car-9');
    await outGroup.publishAsync('tenants/acme/devices/car-9/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await inGroup.publishAsync('tenants/acme/devices/truck-2/sensor', encode('thingiq.telemetry.v1.SensorReading', { timeUnixMs: Date.now(), sequence: 1 }), { qos: 1 });
    await inGroup.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sub.next(1);
    await sleep(300);
    expect(sub.received.map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-2/location']);
  });
});
