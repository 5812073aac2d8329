/**
 * README promise ("Verify the audit log"): entries name devices by
 * pseudonym, so erasure never rewrites the chain; docs/admin.md: devices
 * appear only as `dev_` + HMAC. An adversarial auditor drives every
 * device-related route (and the device's own private-mode command) with a
 * distinctive device id, then erases the device: the id must appear nowhere
 * in the log, and the chain still verifies. Real gateway, mTLS, MQTT.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall } from '../helpers/admin-call.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const ID = 'subject-zq7x';

describe('the audit log names a device only by pseudonym', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const api = async (method: string, path: string, body?: unknown) => (await adminCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body)).status;

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('through every device route, its own control command and its erasure', async () => {
    const D = `/v1/tenants/acme/devices/${ID}`;
    expect(await api('POST', '/v1/tenants/acme/devices', { deviceId: ID, note: 'audit probe' })).toBe(201);
    expect(await api('PUT', '/v1/tenants/acme/device-groups/probe', { devices: [ID] })).toBe(200);
    const device = await connect(gw.port, pki.device('acme', ID), { clientId: ID });
    await device.publishAsync(`tenants/acme/devices/${ID}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
    await device.publishAsync(`tenants/acme/devices/${ID}/control/private-mode`, 'on', { qos: 1 });
    await device.endAsync();
    expect(await api('POST', `${D}/certificates`, {})).toBe(201);
    expect(await api('PUT', `${D}/private-mode`, { on: false })).toBe(200);
    expect(await api('PUT', `${D}/restriction`, { mode: 'drop', reason: 'probe' })).toBe(200);
    expect(await api('GET', `${D}/restriction`)).toBe(200);
    expect(await api('PUT', `${D}/restriction`, { mode: 'none' })).toBe(200);
    expect(await api('POST', `${D}/objections`, { purpose: 'marketing' })).toBe(201);
    expect(await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: ID, held: true })).toBe(200);
    expect(await api('POST', `${D}/erasure`)).toBe(409);
    expect(await api('PUT', '/v1/tenants/acme/legal-holds', { deviceId: ID, held: false })).toBe(200);
    expect(await api('GET', `${D}/data`)).toBe(200);
    expect(await api('GET', `/v1/tenants/acme/records?device=${ID}`)).toBe(200);
    expect(await api('POST', `${D}/revoke`, {})).toBe(200);
    expect(await api('DELETE', '/v1/tenants/acme/device-groups/probe')).toBe(200);
    expect(await api('POST', `${D}/erasure`)).toBe(200);

    const log = readFileSync(join(pki.baseDir, 'data', 'audit', 'audit.jsonl'), 'utf8');
    const pseudonym = gw.gateway.admin!.audit.pseudonyms.device('acme', ID);
    expect(log).toContain(pseudonym);
    const lines = log.split('\n').filter((l) => l.includes(ID));
    expect(lines).toEqual([]);
    expect((await gw.gateway.admin!.audit.verify()).ok).toBe(true);
  });
});
