/**
 * Two gateways sharing one control store on a real PostgreSQL (embedded):
 * a change made through one gateway's admin API reaches the other through
 * LISTEN/NOTIFY and is applied there within a second: a revocation closes
 * the live session it holds, a restriction refuses, a deleted app is
 * disconnected, a hold binds, private mode strips the next location, a KEK
 * rotation makes the other gateway wrap new data keys under the new primary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, test, vi } from 'vitest';
import { stringify } from 'yaml';
import { startCli } from '../cli/run-cli.ts';
import { TEST_TENANTS, connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { decode, encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

function call(port: number, pem: ClientPem, method: string, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const available = await startTestPostgres();

if (!available.ok) {
  describe.skip(`gateways sharing a PostgreSQL control store (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;

  describe('two gateways sharing a PostgreSQL control store', () => {
    const pki = new TestPki();
    let a: Awaited<ReturnType<typeof startGateway>>;
    let b: Awaited<ReturnType<typeof startGateway>>;
    let op: ClientPem;
    const clients: MqttClient[] = [];
    const viaA = (method: string, path: string, body: unknown) => call(a.gateway.adminPorts.mtlsPort, op, method, path, body);
    // The gateways share one keyring (and its root key): a KEK version made by one is one the others can use.
    const keys = { local: { keyringFile: join(pki.baseDir, 'shared-keys', 'keyring.json'), rootKeyFile: join(pki.baseDir, 'shared-keys', 'root.key') } };

    beforeAll(async () => {
      const url = await server.newDatabase();
      // Each gateway has its own data directory (telemetry, keys); they share the CA and the control store.
      const shared = (name: string) => {
        const dataDir = join(pki.baseDir, name);
        mkdirSync(dataDir, { recursive: true });
        return { dataDir, keys, controlStore: { type: 'postgres', connectionString: url, pollIntervalMs: 600_000 } };
      };
      a = await startGateway(pki, shared('data-a'));
      b = await startGateway(pki, shared('data-b'));
      op = pki.operator('olga');
    }, 120_000);
    afterAll(async () => {
      for (const c of clients) c.end(true);
      await a?.gateway.close();
      await b?.gateway.close();
      await server.close();
    });

    it('both follow the PostgreSQL store', () => {
      expect([a.gateway.control.backend, b.gateway.control.backend]).toEqual(['postgres', 'postgres']);
    });

    it('a revocation through gateway A closes the session the device holds on gateway B within a second', async () => {
      const pem = pki.device('acme', 'truck-1');
      const device = await connect(b.port, pem, { clientId: 'truck-1' });
      clients.push(device);
      const closed = new Promise<void>((r) => device.once('close', () => r()));
      expect(await viaA('POST', '/v1/tenants/acme/devices/truck-1/revoke', {})).toBe(200);
      await vi.waitFor(() => expect(b.logs.events('revoked_disconnect').length).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
      await closed;
      await expect(connect(b.port, pem, { clientId: 'truck-1', reconnectPeriod: 0 })).rejects.toThrow();
    });

    it('a restriction through gateway A closes and refuses the device on gateway B within a second', async () => {
      const pem = pki.device('acme', 'truck-2');
      const device = await connect(b.port, pem, { clientId: 'truck-2' });
      clients.push(device);
      expect(await viaA('PUT', '/v1/tenants/acme/devices/truck-2/restriction', { mode: 'refuse' })).toBe(200);
      await vi.waitFor(() => expect(b.logs.events('restricted_disconnect').length).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
      await expect(connect(b.port, pem, { clientId: 'truck-2' })).rejects.toThrow(/Not authorized/i);
    });

    it('a second gateway process (`thingiq start`) on the same store closes a session within a second of a revocation through gateway A', async () => {
      const configFile = join(pki.baseDir, 'process-c.yaml');
      writeFileSync(configFile, stringify({
        pkiDir: pki.dir, dataDir: join(pki.baseDir, 'data-c'), tenants: TEST_TENANTS, mqtt: { port: 0 }, admin: { enabled: false },
        controlStore: a.gateway.config.controlStore, keys,
      }));
      const c = await startCli(pki.baseDir, ['-c', configFile]);
      try {
        const port = Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(c.output())?.[1] ?? /"port":(\d+)[^\n]*"event":"listening"/.exec(c.output())?.[1]);
        expect(port).toBeGreaterThan(0);
        const pem = pki.device('acme', 'truck-4');
        const device = await connect(port, pem, { clientId: 'truck-4' });
        clients.push(device);
        const closed = new Promise<void>((r) => device.once('close', () => r()));
        expect(await viaA('POST', '/v1/tenants/acme/devices/truck-4/revoke', {})).toBe(200);
        await vi.waitFor(() => expect(c.output()).toContain('"event":"revoked_disconnect"'), { timeout: 1000, interval: 20 });
        await closed;
        // Private mode and a KEK rotation through gateway A reach the process too.
        expect(await viaA('PUT', '/v1/tenants/globex/devices/van-9/private-mode', { on: true })).toBe(200);
        await vi.waitFor(() => expect(c.output()).toMatch(/"event":"private_mode_applied"[^\n]*"device":"globex\/van-9","on":true/), { timeout: 1000, interval: 20 });
        expect(await viaA('POST', '/v1/tenants/globex/keys/rotate', undefined)).toBe(200);
        await vi.waitFor(() => expect(c.output()).toMatch(/"event":"kek_rotation_applied"[^\n]*"tenantId":"globex","kekRef":"local:globex:v2"/), { timeout: 1000, interval: 20 });
      } finally {
        c.child.kill('SIGTERM');
        await new Promise((r) => c.child.once('exit', r));
      }
    }, 180_000);

    it('private mode switched on through gateway A strips the next location on gateway B (in force within a second)', async () => {
      const device = await connect(b.port, pki.device('globex', 'van-1'), { clientId: 'van-1' });
      const app = await connect(b.port, pki.app('globex', 'dashboard'), { clientId: 'globex-dash-2' });
      clients.push(device, app);
      const sub = await subscribe(app, 'tenants/globex/devices/+/location');
      const send = async () => {
        const n = sub.received.length;
        await device.publishAsync('tenants/globex/devices/van-1/location', encode(VEHICLE, vehicle({ latitude: 48.85837, longitude: 2.29448 })), { qos: 1 });
        await sub.next(n + 1, 2000);
        return decode(VEHICLE, sub.received[n]!.payload);
      };
      expect(await send()).toHaveProperty('latitude');
      expect(await viaA('PUT', '/v1/tenants/globex/devices/van-1/private-mode', { on: true })).toBe(200);
      await vi.waitFor(() => expect(b.gateway.privateMode.isOn('globex', 'van-1')).toBe(true), { timeout: 1000, interval: 20 });
      const hidden = await send();
      expect(hidden).not.toHaveProperty('latitude');
      expect(hidden['appliedPolicy']).toMatchObject({ locationAction: 'strip' });
      expect(b.gateway.control.get('private-mode', 'globex/van-1')).toMatchObject({ on: true, actor: 'operator:olga', source: 'api' });
    });

    it('deleting an app through gateway A closes its session on gateway B within a second and refuses its next CONNECT there', async () => {
      const pem = pki.app('globex', 'dashboard');
      const app = await connect(b.port, pem, { clientId: 'globex-dash' });
      clients.push(app);
      expect(await viaA('DELETE', '/v1/tenants/globex/apps/dashboard', undefined)).toBe(200);
      await vi.waitFor(() => expect(b.logs.events('access_withdrawn_disconnect').length).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
      await expect(connect(b.port, pem, { clientId: 'globex-dash', reconnectPeriod: 0 })).rejects.toThrow();
    });

    it('a privacy policy put through gateway A is in force on gateway B within a second', async () => {
      const policy = { policyId: 'shared', version: 9, defaults: { '*': { action: 'strip' } } };
      expect(await viaA('PUT', '/v1/tenants/acme/privacy-policy', { policy })).toBe(200);
      await vi.waitFor(() => expect(b.gateway.privacy.policyOf('acme')).toEqual({ policyId: 'shared', policyVersion: 9 }), { timeout: 1000, interval: 20 });
    });

    it('a KEK rotation through gateway A makes gateway B wrap new device keys under the new primary within a second', async () => {
      // Data keys are wrapped under a device key; device keys under the tenant's primary KEK (docs/keys.md).
      const wrappedUnder = async (deviceId: string) => (await b.gateway.keys.deviceKeks.vault.get('acme', deviceId))?.tenantKekRef;
      const publish = async (deviceId: string) => {
        const device = await connect(b.port, pki.device('acme', deviceId), { clientId: deviceId });
        clients.push(device);
        await device.publishAsync(`tenants/acme/devices/${deviceId}/sensor`, encode(SENSOR, sensor()), { qos: 1 });
      };
      await publish('truck-6');
      expect(await wrappedUnder('truck-6')).toBe('local:acme:v1');
      expect(await viaA('POST', '/v1/tenants/acme/keys/rotate', undefined)).toBe(200);
      await vi.waitFor(() => expect(b.logs.events('kek_rotation_applied')).toContainEqual(expect.objectContaining({ tenantId: 'acme', kekRef: 'local:acme:v2' })),
        { timeout: 1000, interval: 20 });
      // A device that needs a new device key on B gets one under v2 at once.
      await publish('truck-16');
      expect(await wrappedUnder('truck-16')).toBe('local:acme:v2');
      expect(b.gateway.control.get('kek-version', 'acme/local:acme:v2')).toMatchObject({ primary: true, actor: 'operator:olga' });
      expect(b.gateway.control.get('kek-version', 'acme/local:acme:v1')).toMatchObject({ primary: false });
    });

    it('a certificate issued through gateway A is listed by gateway B, with its issuer', async () => {
      const r = await new Promise<{ status: number; serial: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: a.gateway.adminPorts.mtlsPort, method: 'POST', path: '/v1/tenants/acme/devices/truck-11/certificates',
          cert: op.cert, key: op.key, ca: op.ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => { text += d.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, serial: (JSON.parse(text) as { serial: string }).serial }));
        });
        req.on('error', reject);
        req.end('{}');
      });
      expect(r.status).toBe(201);
      await vi.waitFor(() => expect(b.gateway.issuedCertificates().find((c) => c.serial.replace(/^0+/, '') === r.serial.toLowerCase().replace(/^0+/, '')))
        .toMatchObject({ uri: 'urn:thingiq:tenant:acme:device:truck-11', issuedBy: 'operator:olga', status: 'active' }), { timeout: 1000, interval: 20 });
    });

    it('a legal hold set through gateway A binds on gateway B within a second', async () => {
      expect(b.gateway.retention.policy.isHeld('acme', 'truck-3')).toBe(false);
      expect(await viaA('PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-3', held: true })).toBe(200);
      await vi.waitFor(() => expect(b.gateway.retention.policy.isHeld('acme', 'truck-3')).toBe(true), { timeout: 1000, interval: 20 });
    });
  });
}
