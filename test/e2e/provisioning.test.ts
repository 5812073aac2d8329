/**
 * Fleet provisioning by claim, end to end on a running gateway: a device
 * that starts with only its claim certificate and key (and the CA) makes
 * its own EC key, registers over HTTPS, receives its certificate and
 * publishes with mosquitto_pub; the message is stored. The template's
 * count, id pattern and expiry, the claim's revocation and another tenant's
 * claim each refuse with their code; the claim itself cannot use MQTT nor
 * any other route; every registration is audited.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDeviceByClaim } from '../../src/cli/provisioning-register.ts';
import { isTiqError } from '../../src/errors.ts';
import { runCli } from '../cli/run-cli.ts';
import { connect, sleep, startGateway } from '../helpers/gateway.ts';
import { httpsCall, mosquittoTls, run } from '../helpers/device-maker.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

const haveMosquitto = (await run('mosquitto_pub', ['--help']).catch(() => ({ status: null }))).status !== null;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI');

interface ClaimFiles { dir: string; caFile: string; claimCertFile: string; claimKeyFile: string; cert: string; key: string; ca: string }

describe.skipIf(!haveMosquitto)('fleet provisioning by claim', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const api = (method: string, path: string, body?: unknown) => httpsCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body);
  const auditEntries = () => readFileSync(join(pki.baseDir, 'data', 'audit', 'audit.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { actor: string; action: string; result: string; detail: string; tenant: string });

  /** Creates a claim through the API and lays out what a factory puts on a device: the claim certificate and key, and the CA. */
  async function makeClaim(tenant: string, body: Record<string, unknown>): Promise<ClaimFiles> {
    const res = await api('POST', `/v1/tenants/${tenant}/provisioning/claims`, body);
    expect(res.status).toBe(201);
    const dir = join(pki.baseDir, 'boxes', `${tenant}-${body['claimId'] as string}`);
    mkdirSync(dir, { recursive: true });
    const files = { caFile: join(dir, 'ca.crt'), claimCertFile: join(dir, 'claim.crt'), claimKeyFile: join(dir, 'claim.key') };
    writeFileSync(files.caFile, res.json['caPem'] as string);
    writeFileSync(files.claimCertFile, res.json['certPem'] as string);
    writeFileSync(files.claimKeyFile, res.json['keyPem'] as string, { mode: 0o600 });
    return { dir, ...files, cert: res.json['certPem'] as string, key: res.json['keyPem'] as string, ca: res.json['caPem'] as string };
  }

  /** Registers as the device would; resolves to the error code on refusal. */
  async function register(claim: ClaimFiles, tenantId: string, deviceId: string): Promise<string> {
    try {
      await registerDeviceByClaim({ url: `https://localhost:${gw.gateway.adminPorts.mtlsPort}`, caFile: claim.caFile, claimCertFile: claim.claimCertFile,
        claimKeyFile: claim.claimKeyFile, tenantId, deviceId, out: join(claim.dir, deviceId), keyType: 'ec' });
      return 'ok';
    } catch (err) {
      return isTiqError(err) ? err.code : String(err);
    }
  }

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('olga');
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('a device with only its claim registers through `thingiq provisioning register`, gets its own EC certificate, and publishes with mosquitto_pub', async () => {
    const claim = await makeClaim('acme', { claimId: 'factory-1', deviceIdPattern: 'sensor-*', deviceGroup: 'sensors', maxDevices: 2, validDays: 7 });
    const out = join(claim.dir, 'sensor-1');
    const cli = await runCli(pki.baseDir, ['provisioning', 'register', '--url', `https://localhost:${gw.gateway.adminPorts.mtlsPort}`, '--ca', claim.caFile,
      '--claim-cert', claim.claimCertFile, '--claim-key', claim.claimKeyFile, '--tenant', 'acme', '--device', 'sensor-1', '--out', out]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(statSync(join(out, 'sensor-1.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(out, 'sensor-1.crt')));
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:sensor-1');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 1, latitude: 48.85, longitude: 2.29, speedMps: 3 });
    const pub = await run('mosquitto_pub', [...mosquittoTls(gw.port, { caPath: join(out, 'ca.crt'), certPath: join(out, 'sensor-1.crt'), keyPath: join(out, 'sensor-1.key') }, 'sensor-1'),
      '-q', '1', '-t', 'tenants/acme/devices/sensor-1/location', '-m', json]);
    expect(pub.status, pub.stderr).toBe(0);
    let stored = 0;
    for (let i = 0; i < 50 && stored === 0; i++) {
      stored = await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'sensor-1' });
      if (stored === 0) await sleep(100);
    }
    expect(stored).toBe(1);

    // Registered, in the template's group, and audited with the claim as actor.
    const devices = (await api('GET', '/v1/tenants/acme/devices')).json['devices'] as { deviceId: string; registration: { registeredBy: string } | null }[];
    expect(devices.find((d) => d.deviceId === 'sensor-1')?.registration?.registeredBy).toBe('claim:acme/factory-1');
    expect(gw.gateway.currentConfig.tenants['acme']?.deviceGroups['sensors']).toContain('sensor-1');
    expect(auditEntries().filter((e) => e.action === 'provisioning.register' && e.result === 'ok').map((e) => [e.actor, e.tenant]))
      .toEqual([['claim:acme/factory-1', 'acme']]);
  }, 180_000);

  it('the claim certificate can neither use MQTT nor call any other admin route', async () => {
    const claim = await makeClaim('acme', { claimId: 'factory-mqtt', deviceIdPattern: 'x-*', maxDevices: 1, validDays: 1 });
    await expect(connect(gw.port, { cert: claim.cert, key: claim.key, ca: claim.ca } as ClientPem, { clientId: 'x-1' })).rejects.toThrow();
    const pub = await run('mosquitto_pub', [...mosquittoTls(gw.port, { caPath: claim.caFile, certPath: claim.claimCertFile, keyPath: claim.claimKeyFile }, 'x-1'),
      '-q', '1', '-t', 'tenants/acme/devices/x-1/location', '-m', '{}']);
    expect(pub.status).not.toBe(0);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_IDENTITY')).toBeGreaterThan(0);
    const other = await httpsCall(gw.gateway.adminPorts.mtlsPort, claim, 'GET', '/v1/tenants/acme/devices');
    expect([other.status, other.json['code']]).toEqual([401, 'TIQ_ERR_IDENTITY']);
    // On the token listener a claim is no credential at all.
    const tokenPort = await httpsCall(gw.gateway.adminPorts.port, claim, 'POST', '/v1/tenants/acme/provisioning/devices/x-2', { csr: 'x' });
    expect([tokenPort.status, tokenPort.json['code']]).toEqual([401, 'TIQ_ERR_UNAUTHENTICATED']);
  });

  it('the count limit refuses with TIQ_ERR_CLAIM_EXHAUSTED, and an existing device with TIQ_ERR_CONFLICT', async () => {
    const claim = await makeClaim('acme', { claimId: 'counted', deviceIdPattern: 'meter-*', maxDevices: 2, validDays: 1 });
    expect(await register(claim, 'acme', 'meter-1')).toBe('ok');
    expect(await register(claim, 'acme', 'meter-1')).toBe('TIQ_ERR_CONFLICT');
    expect(await register(claim, 'acme', 'meter-2')).toBe('ok');
    expect(await register(claim, 'acme', 'meter-3')).toBe('TIQ_ERR_CLAIM_EXHAUSTED');
    const listed = (await api('GET', '/v1/tenants/acme/provisioning/claims')).json['claims'] as { claimId: string; used: number; status: string }[];
    expect(listed.find((c) => c.claimId === 'counted')).toMatchObject({ used: 2, status: 'exhausted' });
  });

  it('the id pattern refuses with TIQ_ERR_CLAIM_DEVICE_ID; a bad CSR with its CSR code, counting nothing', async () => {
    const claim = await makeClaim('acme', { claimId: 'patterned', deviceIdPattern: 'pump-??', maxDevices: 5, validDays: 1 });
    expect(await register(claim, 'acme', 'valve-01')).toBe('TIQ_ERR_CLAIM_DEVICE_ID');
    expect(await register(claim, 'acme', 'pump-123')).toBe('TIQ_ERR_CLAIM_DEVICE_ID');
    const garbage = await httpsCall(gw.gateway.adminPorts.mtlsPort, claim, 'POST', '/v1/tenants/acme/provisioning/devices/pump-09', { csr: 'garbage' });
    expect([garbage.status, garbage.json['code']]).toEqual([400, 'TIQ_ERR_CSR_INVALID']);
    expect(await register(claim, 'acme', 'pump-12')).toBe('ok');
    const listed = (await api('GET', '/v1/tenants/acme/provisioning/claims')).json['claims'] as { claimId: string; used: number }[];
    expect(listed.find((c) => c.claimId === 'patterned')?.used).toBe(1);
    expect(auditEntries().filter((e) => e.action === 'provisioning.register' && e.result === 'denied' && e.actor === 'claim:acme/patterned')
      .map((e) => e.detail.split(' ').at(-1))).toEqual(['TIQ_ERR_CLAIM_DEVICE_ID', 'TIQ_ERR_CLAIM_DEVICE_ID', 'TIQ_ERR_CSR_INVALID']);
  });

  it('an expired claim refuses with TIQ_ERR_CLAIM_EXPIRED', async () => {
    const claim = await makeClaim('acme', { claimId: 'short-lived', deviceIdPattern: '*', maxDevices: 5, expiresAt: new Date(Date.now() + 1500).toISOString() });
    await sleep(1700);
    expect(await register(claim, 'acme', 'late-1')).toBe('TIQ_ERR_CLAIM_EXPIRED');
  });

  it('a revoked claim refuses with TIQ_ERR_CLAIM_REVOKED', async () => {
    const claim = await makeClaim('acme', { claimId: 'revocable', deviceIdPattern: 'tag-*', maxDevices: 5, validDays: 1 });
    expect(await register(claim, 'acme', 'tag-1')).toBe('ok');
    const revoked = await api('POST', '/v1/tenants/acme/provisioning/claims/revocable/revoke', {});
    expect(revoked.status).toBe(200);
    expect(await register(claim, 'acme', 'tag-2')).toBe('TIQ_ERR_CLAIM_REVOKED');
    // What it registered before stays valid.
    const tag1 = join(claim.dir, 'tag-1');
    const device = await connect(gw.port, { cert: readFileSync(join(tag1, 'tag-1.crt'), 'utf8'), key: readFileSync(join(tag1, 'tag-1.key'), 'utf8'), ca: claim.ca } as ClientPem, { clientId: 'tag-1' });
    device.end(true);
  });

  it('another tenant\'s claim cannot register into this tenant: TIQ_ERR_CLAIM_TENANT, nothing created', async () => {
    const claim = await makeClaim('globex', { claimId: 'globex-line', deviceIdPattern: '*', maxDevices: 5, validDays: 1 });
    expect(await register(claim, 'acme', 'intruder-1')).toBe('TIQ_ERR_CLAIM_TENANT');
    const devices = (await api('GET', '/v1/tenants/acme/devices')).json['devices'] as { deviceId: string }[];
    expect(devices.map((d) => d.deviceId)).not.toContain('intruder-1');
    expect(await register(claim, 'globex', 'own-1')).toBe('ok');
  });
});
