/** Certificates of a configured external CA map to device identities by subject fields. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueClientCertificate } from '../../src/pki/certificates.ts';
import { connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('external CA', () => {
  const pki = new TestPki();
  const partner = createCa('Partner Fleet CA');
  let gw: Awaited<ReturnType<typeof startGateway>>;

  function partnerDevice(tenantId: string, deviceId: string): ClientPem {
    const c = issueClientCertificate(partner, { kind: 'device', tenantId, deviceId, uri: '' });
    return { cert: c.certPem, key: c.keyPem, ca: pki.caPem, certPath: '', keyPath: '', caPath: '', serial: c.serial };
  }

  beforeAll(async () => {
    writeFileSync(join(pki.baseDir, 'partner-ca.crt'), partner.certPem);
    gw = await startGateway(pki, { externalCa: { caFile: join(pki.baseDir, 'partner-ca.crt'), tenantFrom: 'O', deviceFrom: 'CN' } });
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('a partner-CA device publishes into its tenant, mapped from O and CN', async () => {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
    const sub = await subscribe(app, 'tenants/acme/#');
    const device = await connect(gw.port, partnerDevice('acme', 'meter-9'), { clientId: 'meter-9' });
    await device.publishAsync('tenants/acme/devices/meter-9/location', encode(VEHICLE, vehicle({ tripId: 'partner' })), { qos: 1 });
    const [msg] = await sub.next(1);
    expect(msg!.topic).toBe('tenants/acme/devices/meter-9/location');
    expect(decode(VEHICLE, msg!.payload)['tripId']).toBe('partner');
    device.end(true);
    app.end(true);
  });

  it('the mapping confines it like any device: another tenant\'s topic disconnects', async () => {
    const device = await connect(gw.port, partnerDevice('acme', 'meter-8'), { clientId: 'meter-8' });
    const closed = new Promise<boolean>((r) => { device.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
    device.publish('tenants/globex/devices/meter-8/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await closed).toBe(true);
  });

  it('a partner certificate used with a client id other than its CN is refused', async () => {
    await expect(connect(gw.port, partnerDevice('acme', 'meter-7'), { clientId: 'wrong-id' })).rejects.toThrow();
  });
});
