/**
 * The admin API of a running gateway, with an operator certificate over
 * mutual TLS: revocation of a live device, restriction on the next message,
 * erasure with a receipt, metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('admin API on a running gateway', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  let app: MqttClient;
  const devices: MqttClient[] = [];
  const api = (method: string, path: string, body?: unknown) => adminCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body);

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
    app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
  });
  afterAll(async () => {
    for (const c of [app, ...devices]) c?.end(true);
    await gw?.gateway.close();
  });

  it('revoking a connected device disconnects it within a second and refuses its reconnect', async () => {
    const pem = pki.device('acme', 'truck-1');
    const device = await connect(gw.port, pem, { clientId: 'truck-1' });
    devices.push(device);
    const closed = new Promise<number>((r) => device.once('close', () => r(Date.now())));
    const t0 = Date.now();
    const res = await api('POST', '/v1/tenants/acme/devices/truck-1/revoke', {});
    expect(res.status).toBe(200);
    expect((await closed) - t0).toBeLessThan(1000);
    await expect(connect(gw.port, pem, { clientId: 'truck-1' })).rejects.toThrow();
  });

  it('restriction "drop" takes effect on the next message: acknowledged, neither stored nor forwarded', async () => {
    const device = await connect(gw.port, pki.device('acme', 'truck-2'), { clientId: 'truck-2' });
    devices.push(device);
    const sub = await subscribe(app, 'tenants/acme/devices/truck-2/#');
    await device.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sub.next(1);
    expect((await api('PUT', '/v1/tenants/acme/devices/truck-2/restriction', { mode: 'drop', reason: 'Art. 18 request' })).status).toBe(200);
    await device.publishAsync('tenants/acme/devices/truck-2/location', encode(VEHICLE, vehicle()), { qos: 1 });
    await sleep(300);
    expect(sub.received).toHaveLength(1);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-2' })).toBe(1);
  });

  it('restriction "refuse" disconnects the device and refuses its reconnect', async () => {
    const pem = pki.device('acme', 'truck-3');
    const device = await connect(gw.port, pem, { clientId: 'truck-3' });
    devices.push(device);
    const closed = new Promise<boolean>((r) => { device.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
    expect((await api('PUT', '/v1/tenants/acme/devices/truck-3/restriction', { mode: 'refuse' })).status).toBe(200);
    expect(await closed).toBe(true);
    await expect(connect(gw.port, pem, { clientId: 'truck-3' })).rejects.toThrow(/Not authorized/i);
  });

  it('erasure deletes the records and shreds the keys, with a receipt; an access request then returns nothing', async () => {
    const device = await connect(gw.port, pki.device('acme', 'van-7'), { clientId: 'van-7' });
    devices.push(device);
    for (let i = 0; i < 5; i++) await device.publishAsync('tenants/acme/devices/van-7/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const before = await api('GET', '/v1/tenants/acme/devices/van-7/data');
    expect(before.text.trim().split('\n')).toHaveLength(5);
    const erased = await api('POST', '/v1/tenants/acme/devices/van-7/erasure', {});
    expect(erased.status).toBe(200);
    expect(erased.json()).toMatchObject({ recordsDeleted: 5, recordsRemaining: 0 });
    expect((erased.json()['keysDestroyed'] as number)).toBeGreaterThan(0);
    const after = await api('GET', '/v1/tenants/acme/devices/van-7/data');
    expect(after.status).toBe(200);
    expect(after.text.trim()).toBe('');
  });

  it('a policy put through the API applies to the next message and survives in the policy store', async () => {
    const device = await connect(gw.port, pki.device('acme', 'car-5'), { clientId: 'car-5' });
    devices.push(device);
    const sub = await subscribe(app, 'tenants/acme/devices/car-5/#');
    const bad = await api('PUT', '/v1/tenants/acme/privacy-policy', { policy: { policyId: 'api', version: 1, defaults: { '*': { action: 'teleport' } } } });
    expect(bad.status).toBe(422);
    expect(bad.json()['code']).toBe('TIQ_ERR_POLICY_INVALID');
    const ok = await api('PUT', '/v1/tenants/acme/privacy-policy', { policy: { policyId: 'api', version: 7, defaults: { '*': { action: 'strip' } } } });
    expect(ok.status).toBe(200);
    await device.publishAsync('tenants/acme/devices/car-5/location', encode(VEHICLE, vehicle()), { qos: 1 });
    const [msg] = await sub.next(1);
    const body = decode(VEHICLE, msg!.payload);
    expect(body).not.toHaveProperty('latitude');
    expect(body['appliedPolicy']).toEqual({ policyId: 'api', version: 7, locationAction: 'strip' });
    expect((await api('GET', '/v1/tenants/acme/privacy-policy')).json()['inForce']).toEqual({ policyId: 'api', policyVersion: 7 });
  });

  it('serves Prometheus metrics to operators, never device ids in labels', async () => {
    const res = await api('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/thingiq_messages_total\{stream="location",outcome="stored"\} \d+/);
    expect(res.text).toContain('thingiq_refusals_total{code="TIQ_ERR_RESTRICTED"}');
    expect(res.text).not.toContain('truck-2');
    expect(res.text).toMatch(/thingiq_stage_seconds_count\{stage="encryptRecord"\} \d+/);
    expect(res.text).toMatch(/thingiq_pipeline_seconds_count\{stream="location"\} [1-9]/);
    expect(res.text).toMatch(/thingiq_sink_up\{sink="default"\} 1/);
    expect(res.text).toMatch(/thingiq_tenant_connections\{tenant="acme"\} [1-9]/);
    expect(res.text).toMatch(/thingiq_data_key_provider_calls\{call="generate"\} [1-9]/);
    expect(res.text).toContain('nodejs_eventloop_lag_seconds');
    expect(res.text).toMatch(/thingiq_sink_batch_records_count\{sink="default"\} [1-9]/);
    expect(res.text).toMatch(/thingiq_sink_commit_seconds_sum\{sink="default"\} \d/);
    const tenantApp = await adminCall(gw.gateway.adminPorts.mtlsPort, pki.app('acme', 'dashboard'), 'GET', '/metrics');
    expect(tenantApp.status).toBe(403);
  });

  it('the audit chain of these actions verifies', async () => {
    const res = await api('GET', '/v1/audit/verify');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ ok: true });
  });
});
