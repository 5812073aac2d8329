/**
 * ECDSA P-256 client certificates over real TLS, under an EC CA and under an
 * RSA CA: mosquitto_pub/mosquitto_sub and mqtt.js connect with them, CSRs
 * made by the openssl command are signed through the admin API and by
 * `thingiq pki sign-csr`, and revocation of an EC certificate cuts it.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { connect, sleep, startGateway, subscribe } from '../helpers/gateway.ts';
import { haveOpenssl, httpsCall, mosquittoTls, opensslKeyAndCsr, run } from '../helpers/device-maker.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { decode, VEHICLE } from '../helpers/telemetry.ts';

const haveMosquitto = (await run('mosquitto_pub', ['--help']).catch(() => ({ status: null }))).status !== null;
if ((!haveMosquitto || !haveOpenssl) && process.env['CI'] === 'true') throw new Error('mosquitto-clients and openssl are required under CI');

/** Each `thingiq` run is a fresh Node process (and the first may build dist/): slow on a loaded machine. */
const CLI_TIMEOUT_MS = 180_000;
const location = (sequence: number) => JSON.stringify({ timeUnixMs: Date.now(), sequence, latitude: 48.85, longitude: 2.29, speedMps: 10 });
const keyTypeOf = (certPem: string) => new X509Certificate(certPem).publicKey.asymmetricKeyType;

async function storedCount(gw: Awaited<ReturnType<typeof startGateway>>, deviceId: string, atLeast: number): Promise<number> {
  const sink = gw.gateway.storage.sinkFor('acme');
  let n = 0;
  for (let i = 0; i < 50 && n < atLeast; i++) {
    n = await sink.countRecords({ tenantId: 'acme', deviceId });
    if (n < atLeast) await sleep(100);
  }
  return n;
}

describe.skipIf(!haveMosquitto || !haveOpenssl).each(['ec', 'rsa'] as const)('EC client certificates under an %s CA', (caType) => {
  const pki = new TestPki(undefined, { keyType: caType });
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const api = (method: string, path: string, body?: unknown) => httpsCall(gw.gateway.adminPorts.mtlsPort, op, method, path, body);

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('olga');
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('the CA is of the chosen type and the certificates it issues are EC P-256', () => {
    expect(keyTypeOf(pki.caPem)).toBe(caType);
    const device = pki.device('acme', 'ec-0');
    expect(keyTypeOf(device.cert)).toBe('ec');
    expect(new X509Certificate(device.cert).publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(statSync(device.keyPath).mode & 0o777).toBe(0o600);
  });

  it('mosquitto_pub with an EC device certificate publishes; an mqtt.js app with an EC certificate receives it; it is stored', async () => {
    const app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash-mqttjs' });
    try {
      const sub = await subscribe(app, 'tenants/acme/devices/ec-1/location');
      const device = pki.device('acme', 'ec-1');
      const r = await run('mosquitto_pub', [...mosquittoTls(gw.port, device, 'ec-1'), '-q', '1', '-t', 'tenants/acme/devices/ec-1/location', '-m', location(1)]);
      expect(r.status).toBe(0);
      const [msg] = await sub.next(1);
      expect(decode(VEHICLE, msg!.payload)['latitude']).toBe(48.85);
      expect(await storedCount(gw, 'ec-1', 1)).toBe(1);
    } finally {
      app.end(true);
    }
  });

  it('an mqtt.js device with an EC certificate reaches mosquitto_sub with an EC app certificate', async () => {
    const app = pki.app('acme', 'dashboard');
    const child = spawn('mosquitto_sub', [...mosquittoTls(gw.port, app, 'dash-mosq'), '-t', 'tenants/acme/devices/ec-2/location', '-C', '1', '-W', '10', '-F', '%t']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await sleep(700);
    const device = await connect(gw.port, pki.device('acme', 'ec-2'), { clientId: 'ec-2' });
    await device.publishAsync('tenants/acme/devices/ec-2/location', location(1), { qos: 1 });
    await closed;
    device.end(true);
    expect(out.trim()).toBe('tenants/acme/devices/ec-2/location');
  });

  it('an EC CSR made by openssl is signed through the API (its subject ignored) and the device connects with mosquitto_pub', async () => {
    const made = await opensslKeyAndCsr(pki.baseDir, 'api-ec', 'P-256');
    const res = await api('POST', '/v1/tenants/acme/devices/ec-api/certificates', { csr: made.csrPem });
    expect(res.status).toBe(201);
    expect(res.json['keyPem']).toBeUndefined();
    const cert = new X509Certificate(res.json['certPem'] as string);
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:ec-api');
    expect(cert.subject).not.toContain('other-tenant');
    const certPath = join(pki.baseDir, 'api-ec.crt');
    writeFileSync(certPath, res.json['certPem'] as string);
    const r = await run('mosquitto_pub', [...mosquittoTls(gw.port, { caPath: join(pki.dir, 'ca.crt'), certPath, keyPath: made.keyPath }, 'ec-api'),
      '-q', '1', '-t', 'tenants/acme/devices/ec-api/location', '-m', location(1)]);
    expect(r.status).toBe(0);
    expect(await storedCount(gw, 'ec-api', 1)).toBe(1);
  });

  it('revoking an EC certificate closes its live session and refuses it at the next connection', async () => {
    const pem = pki.device('acme', 'ec-rev');
    const device = await connect(gw.port, pem, { clientId: 'ec-rev' });
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    const res = await api('POST', '/v1/tenants/acme/devices/ec-rev/revoke', {});
    expect(res.json['revoked']).toEqual([pem.serial]);
    await closed;
    await expect(connect(gw.port, pem, { clientId: 'ec-rev' })).rejects.toThrow();
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_CERT_REVOKED')).toBeGreaterThan(0);
    const r = await run('mosquitto_pub', [...mosquittoTls(gw.port, pem, 'ec-rev'), '-q', '1', '-t', 'tenants/acme/devices/ec-rev/location', '-m', location(2)]);
    expect(r.status).not.toBe(0);
  });
});

describe.skipIf(!haveMosquitto || !haveOpenssl).each(['ec', 'rsa'] as const)('thingiq pki sign-csr under an %s CA', (caType) => {
  const cwd = mkdtempSync(join(tmpdir(), 'thingiq-sign-'));
  mkdirSync(join(cwd, 'config'));
  writeFileSync(join(cwd, 'config', 'gateway.yaml'), 'tenants:\n  acme: {}\n');

  it('signs an openssl EC CSR for a device (no key written) and the device then publishes with mosquitto_pub', async () => {
    expect((await runCli(cwd, ['pki', 'init', '--key-type', caType])).code).toBe(0);
    const made = await opensslKeyAndCsr(cwd, 'maker', 'P-256');
    const r = await runCli(cwd, ['pki', 'sign-csr', '--tenant', 'acme', '--device', 'ec-cli', '--csr', made.csrPath, '--out', 'signed']);
    expect(r.code).toBe(0);
    const cert = new X509Certificate(readFileSync(join(cwd, 'signed', 'ec-cli.crt')));
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:tenant:acme:device:ec-cli');
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.checkIssued(new X509Certificate(readFileSync(join(cwd, 'signed', 'ca.crt'))))).toBe(true);
    expect(() => statSync(join(cwd, 'signed', 'ec-cli.key'))).toThrow();

    const gw = await startGateway(new TestPki(cwd), { dataDir: join(cwd, 'data'), tenants: { acme: {} } });
    try {
      const pub = await run('mosquitto_pub', [...mosquittoTls(gw.port, { caPath: join(cwd, 'signed', 'ca.crt'), certPath: join(cwd, 'signed', 'ec-cli.crt'), keyPath: made.keyPath }, 'ec-cli'),
        '-q', '1', '-t', 'tenants/acme/devices/ec-cli/location', '-m', location(1)]);
      expect(pub.status).toBe(0);
      expect(await storedCount(gw, 'ec-cli', 1)).toBe(1);
    } finally {
      await gw.gateway.close();
    }
  }, CLI_TIMEOUT_MS);

  it('signs an app CSR, and refuses a P-384 CSR with TIQ_ERR_CSR_KEY and garbage with TIQ_ERR_CSR_INVALID', async () => {
    const app = await opensslKeyAndCsr(cwd, 'app', 'P-256');
    const ok = await runCli(cwd, ['pki', 'sign-csr', '--tenant', 'acme', '--app', 'dash', '--csr', app.csrPath, '--out', 'signed']);
    expect(ok.code).toBe(0);
    expect(new X509Certificate(readFileSync(join(cwd, 'signed', 'dash.crt'))).subjectAltName).toBe('URI:urn:thingiq:tenant:acme:app:dash');
    const p384 = await opensslKeyAndCsr(cwd, 'p384', 'P-384');
    const refused = await runCli(cwd, ['pki', 'sign-csr', '--tenant', 'acme', '--device', 'big', '--csr', p384.csrPath, '--out', 'signed']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('TIQ_ERR_CSR_KEY');
    writeFileSync(join(cwd, 'garbage.csr'), 'not a request');
    const garbage = await runCli(cwd, ['pki', 'sign-csr', '--tenant', 'acme', '--device', 'junk', '--csr', join(cwd, 'garbage.csr'), '--out', 'signed']);
    expect(garbage.stderr).toContain('TIQ_ERR_CSR_INVALID');
  }, CLI_TIMEOUT_MS);
});
