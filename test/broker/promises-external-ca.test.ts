/**
 * What an operator can do about one device of a configured external CA.
 * The gateway keeps no record of certificates it did not issue and consults
 * no CRL of the external CA, so revoking such a device's certificate through
 * the admin API revokes nothing, and says so; restricting the device with
 * `refuse` is what shuts it out (README, "What a message goes through").
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createCa, issueClientCertificate } from '../../src/pki/certificates.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { closedWithin, connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

describe('a device of an external CA', () => {
  const pki = new TestPki();
  const partner = createCa('Partner Fleet CA');
  const op = pki.operator('alice');
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const clients: MqttClient[] = [];

  function partnerDevice(tenantId: string, deviceId: string): ClientPem {
    const c = issueClientCertificate(partner, { kind: 'device', tenantId, deviceId, uri: '' });
    return { cert: c.certPem, key: c.keyPem, ca: pki.caPem, certPath: '', keyPath: '', caPath: '', serial: c.serial };
  }
  const api = (method: string, path: string, body?: unknown) => adminCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body);

  beforeAll(async () => {
    writeFileSync(join(pki.baseDir, 'partner-ca.crt'), partner.certPem);
    gw = await startGateway(pki, { externalCa: { caFile: join(pki.baseDir, 'partner-ca.crt'), tenantFrom: 'O', deviceFrom: 'CN' } });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  it('cannot be revoked by the gateway: the API answers that it revoked nothing, and the device still connects', async () => {
    const pem = partnerDevice('acme', 'meter-1');
    const live = await connect(gw.port, pem, { clientId: 'meter-1' });
    clients.push(live);
    const bySerial = await api('POST', `/v1/certificates/${pem.serial}/revoke`);
    expect(bySerial.status).toBe(200);
    expect(bySerial.json()['revoked']).toEqual([]);
    const byDevice = await api('POST', '/v1/tenants/acme/devices/meter-1/revoke', {});
    expect(byDevice.status).toBe(200);
    expect(byDevice.json()['revoked']).toEqual([]);
    expect(await closedWithin(live, 1000)).toBe(false);
  });

  it('is shut out by restricting it with `refuse`: the live session ends and CONNECT is refused', async () => {
    const pem = partnerDevice('acme', 'meter-2');
    const live = await connect(gw.port, pem, { clientId: 'meter-2' });
    clients.push(live);
    const closed = closedWithin(live, 3000);
    expect((await api('PUT', '/v1/tenants/acme/devices/meter-2/restriction', { mode: 'refuse' })).status).toBe(200);
    expect(await closed).toBe(true);
    await expect(connect(gw.port, pem, { clientId: 'meter-2' })).rejects.toMatchObject({ code: 5 });
    expect(gw.logs.events('connect_refused').some((l) => l['code'] === 'TIQ_ERR_RESTRICTED' && l['identity'] === 'device acme/meter-2')).toBe(true);
  });
});
