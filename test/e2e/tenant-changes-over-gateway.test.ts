/**
 * Apps, grants, device groups and device registration changed through the
 * admin API of a running gateway (operator certificate over mutual TLS),
 * observed by real MQTT clients on the next message; the changes survive a
 * restart.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, subscribe, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const CONFIG = {
  tenants: {
    ...TEST_TENANTS,
    acme: {
      ...TEST_TENANTS.acme,
      deviceGroups: { ...TEST_TENANTS.acme.deviceGroups, hidden: [] },
      privacy: {
        policyId: 'fleet', version: 1,
        defaults: { '*': { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } },
        groups: [{ group: 'hidden', rules: { '*': { action: 'strip' } } }],
      },
      // A rule on `hidden` makes its members decide stored tags; `spare` and others have none.
      retention: { deviceGroups: { hidden: { location: { class: 'hidden-7d', days: 7 } } } },
    },
  },
};

describe('tenant changes through the admin API on a running gateway', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const clients: MqttClient[] = [];
  const api = (method: string, path: string, body?: unknown) => call(gw.gateway.adminPorts.mtlsPort, op, method, path, body);
  const device = async (id: string) => {
    const c = await connect(gw.port, pki.device('acme', id), { clientId: id });
    clients.push(c);
    return c;
  };
  const publish = (c: MqttClient, id: string) => c.publishAsync(`tenants/acme/devices/${id}/location`, encode(VEHICLE, vehicle()), { qos: 1 });

  beforeAll(async () => {
    gw = await startGateway(pki, CONFIG);
    op = pki.operator('olga');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('an app limited by PUT to a device group receives only that group\'s messages from the next delivery', async () => {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
    clients.push(app);
    const sub = await subscribe(app, 'tenants/acme/#');
    const truck = await device('truck-1');
    const car = await device('car-9');
    await publish(truck, 'truck-1');
    await publish(car, 'car-9');
    await sub.next(2);
    expect(sub.received.map((m) => m.topic).sort()).toEqual(['tenants/acme/devices/car-9/location', 'tenants/acme/devices/truck-1/location']);

    const bad = await api('PUT', '/v1/tenants/acme/apps/dashboard', { streams: ['no-such-stream'], deviceGroups: ['no-such-group'] });
    expect(bad.status).toBe(400);
    expect(bad.json['code']).toBe('TIQ_ERR_BAD_REQUEST');
    expect(bad.json['problems']).toHaveLength(2);

    const put = await api('PUT', '/v1/tenants/acme/apps/dashboard', { deviceGroups: ['trucks'] });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ id: 'dashboard', deviceGroups: ['trucks'], created: false });
    await publish(car, 'car-9');
    await publish(truck, 'truck-1');
    await sub.next(3);
    await sleep(200);
    expect(sub.received.slice(2).map((m) => m.topic)).toEqual(['tenants/acme/devices/truck-1/location']);
    const apps = (await api('GET', '/v1/tenants/acme/apps')).json['apps'] as { id: string }[];
    expect(apps).toContainEqual({ id: 'dashboard', streams: null, deviceGroups: ['trucks'] });
  });

  it('deleting an app closes its live session and refuses its next CONNECT (the app came from the config file)', async () => {
    const pem = pki.app('acme', 'trucks-only');
    const live = await connect(gw.port, pem, { clientId: 'trucks-only-1' });
    const closed = new Promise<boolean>((r) => { live.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
    const del = await api('DELETE', '/v1/tenants/acme/apps/trucks-only');
    expect(del.status).toBe(200);
    expect(await closed).toBe(true);
    await expect(connect(gw.port, pem, { clientId: 'trucks-only-2' })).rejects.toThrow();
    expect((await api('DELETE', '/v1/tenants/acme/apps/trucks-only')).status).toBe(404);
  });

  it('adding a device to a group of a privacy rule changes what its next message gets', async () => {
    // A new app, created through the API, connects and sees every device.
    expect((await api('PUT', '/v1/tenants/acme/apps/auditor', {})).json).toMatchObject({ created: true });
    const app = await connect(gw.port, pki.app('acme', 'auditor'), { clientId: 'auditor' });
    clients.push(app);
    const sub = await subscribe(app, 'tenants/acme/devices/van-3/#');
    const van = await device('van-3');
    await publish(van, 'van-3');
    const [before] = await sub.next(1);
    expect((decode(VEHICLE, before!.payload)['appliedPolicy'] as Record<string, unknown>)['locationAction']).toBe('coarsen');

    const reconciledBefore = gw.logs.events('retention_reconciled').length;
    const put = await api('PUT', '/v1/tenants/acme/device-groups/hidden', { devices: ['van-3'] });
    expect(put.status).toBe(200);
    await publish(van, 'van-3');
    const [, after] = await sub.next(2);
    const body = decode(VEHICLE, after!.payload);
    expect(body).not.toHaveProperty('latitude');
    expect((body['appliedPolicy'] as Record<string, unknown>)['locationAction']).toBe('strip');
    // Stored records are re-tagged for a changed group that has a retention rule, in the background.
    for (let i = 0; i < 50 && gw.logs.events('retention_reconciled').length === reconciledBefore; i++) await sleep(50);
    expect(gw.logs.events('retention_reconciled').length).toBeGreaterThan(reconciledBefore);
    // A group no retention rule names decides no tags: changing it re-tags nothing.
    const reconciledMid = gw.logs.events('retention_reconciled').length;
    expect((await api('PUT', '/v1/tenants/acme/device-groups/untagged', { devices: ['van-9'] })).status).toBe(200);
    await sleep(300);
    expect(gw.logs.events('retention_reconciled').length).toBe(reconciledMid);
    expect((await api('DELETE', '/v1/tenants/acme/device-groups/untagged')).status).toBe(200);
    const groups = (await api('GET', '/v1/tenants/acme/device-groups')).json['deviceGroups'];
    expect(groups).toContainEqual({ id: 'hidden', devices: ['van-3'] });
  });

  it('refuses to delete a group a grant or privacy rule still names, saying which', async () => {
    const inPolicy = await api('DELETE', '/v1/tenants/acme/device-groups/hidden');
    expect(inPolicy.status).toBe(409);
    expect(inPolicy.json['code']).toBe('TIQ_ERR_CONFLICT');
    expect(inPolicy.json['problems']).toEqual([expect.stringContaining('privacy.groups.0')]);
    const inGrant = await api('DELETE', '/v1/tenants/acme/device-groups/trucks');
    expect(inGrant.status).toBe(409);
    expect(inGrant.json['problems']).toEqual([expect.stringContaining('apps.dashboard.deviceGroups')]);
    expect((await api('PUT', '/v1/tenants/acme/device-groups/spare', { devices: ['x-1'] })).status).toBe(200);
    expect((await api('DELETE', '/v1/tenants/acme/device-groups/spare')).status).toBe(200);
  });

  it('a registered device appears in the list with its certificate status; registering it twice is a conflict', async () => {
    const reg = await api('POST', '/v1/tenants/acme/devices', { deviceId: 'truck-1', note: 'bay 4' });
    expect(reg.status).toBe(201);
    expect(reg.json).toMatchObject({ deviceId: 'truck-1', registeredBy: expect.stringContaining('olga'), note: 'bay 4' });
    expect((await api('POST', '/v1/tenants/acme/devices', { deviceId: 'pallet-1' })).status).toBe(201);
    expect((await api('POST', '/v1/tenants/acme/devices', { deviceId: 'pallet-1' })).json['code']).toBe('TIQ_ERR_CONFLICT');
    const devices = (await api('GET', '/v1/tenants/acme/devices')).json['devices'] as { deviceId: string; registration: unknown; certificates: { status: string }[] }[];
    const truck = devices.find((d) => d.deviceId === 'truck-1');
    expect(truck?.registration).toMatchObject({ note: 'bay 4' });
    expect(truck?.certificates.map((c) => c.status)).toContain('active');
    expect(devices.find((d) => d.deviceId === 'pallet-1')).toMatchObject({ registration: { registeredBy: expect.any(String) }, certificates: [] });
    expect(devices.find((d) => d.deviceId === 'van-3')).toMatchObject({ registration: null });
  });

  it('every change is in the audit chain, and the changes survive a restart', async () => {
    // Audited once, by the admin API's route, with the caller's role.
    const entries = (await gw.gateway.admin!.audit.query({ limit: 1000 })).filter((e) => e.result === 'ok');
    const actions = entries.map((e) => e.action);
    expect(entries.filter((e) => e.action === 'apps.put').every((e) => e.role === 'operator')).toBe(true);
    expect(actions).toEqual(expect.arrayContaining(['apps.put', 'apps.delete', 'device-groups.put', 'device-groups.delete']));
    expect((await api('GET', '/v1/audit/verify')).json).toMatchObject({ ok: true });
    // A reload of the config file (which still lists trucks-only) keeps the API's changes over it.
    expect(gw.gateway.reload({ pkiDir: pki.dir, dataDir: `${pki.baseDir}/data`, admin: { port: 0, mtlsPort: 0 }, ...CONFIG }, 'test')).toEqual({ ok: true });
    expect(Object.keys(gw.gateway.currentConfig.tenants['acme']?.apps ?? {}).sort()).toEqual(['auditor', 'dashboard']);
    for (const c of clients.splice(0)) c.end(true);
    await gw.gateway.close();
    gw = await startGateway(pki, CONFIG);
    const apps = (await api('GET', '/v1/tenants/acme/apps')).json['apps'] as { id: string }[];
    expect(apps.map((a) => a.id).sort()).toEqual(['auditor', 'dashboard']);
    expect(apps).toContainEqual({ id: 'dashboard', streams: null, deviceGroups: ['trucks'] });
    await expect(connect(gw.port, pki.app('acme', 'trucks-only'), { clientId: 'trucks-only-3' })).rejects.toThrow();
    expect(((await api('GET', '/v1/tenants/acme/devices')).json['devices'] as { deviceId: string }[]).map((d) => d.deviceId)).toContain('pallet-1');
  });
});
