/**
 * Replay and tail of stored records through a running gateway (SQLite sink):
 * devices publish with mqtt.js and mosquitto_pub, apps read back over the
 * admin API with their certificate (mTLS listener) or a bearer token, pages
 * chain without gap or repeat, grants and tenant scope filter, a restricted
 * device is left out, each read is audited once, and a tail follows records
 * as they are stored, many of them in the same (policy-floored) millisecond.
 */
import type { AuditLog } from '../../src/audit/audit-log.ts';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminStream, type AdminCredentials } from '../helpers/admin-call.ts';
import { connect, sleep, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, sensor, SENSOR, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const haveMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
if (!haveMosquitto && process.env['CI'] === 'true') throw new Error('mosquitto-clients are required under CI (.ci/run installs them)');

const ISSUER = 'https://idp.replay.test/';
const AUDIENCE = 'thingiq-admin';

type Line = Record<string, unknown>;

function run(cmd: string, args: string[]): Promise<{ status: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status }); });
  });
}

describe('replay and tail over a running gateway', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let signingKey: CryptoKey;
  const devices: MqttClient[] = [];
  const stored: Record<string, number> = {};
  let op: ClientPem;
  let dashboard: ClientPem;

  const mtls = () => gw.gateway.adminPorts.mtlsPort;
  const bearer = () => gw.gateway.adminPorts.port;
  const asPem = (pem: ClientPem): AdminCredentials => ({ ca: pem.ca, cert: pem.cert, key: pem.key });
  const token = (claims: Record<string, unknown>, sub: string) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(signingKey);

  async function publish(tenant: string, device: string, stream: 'location' | 'sensor', n: number): Promise<void> {
    const client = await connect(gw.port, pki.device(tenant, device), { clientId: device });
    devices.push(client);
    for (let i = 0; i < n; i++) {
      const payload = stream === 'location' ? encode(VEHICLE, vehicle()) : encode(SENSOR, sensor());
      await client.publishAsync(`tenants/${tenant}/devices/${device}/${stream}`, payload, { qos: 1 });
    }
    await client.endAsync();
    stored[`${tenant}/${device}/${stream}`] = (stored[`${tenant}/${device}/${stream}`] ?? 0) + n;
  }

  /** Chains pages of `limit` from the start; returns every record line and the pages' end lines. */
  async function chain(port: number, who: AdminCredentials, tenant: string, limit: number, query = ''): Promise<{ records: Line[]; ends: Line[] }> {
    const records: Line[] = [];
    const ends: Line[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await adminCall(port, who, 'GET', `/v1/tenants/${tenant}/records?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}${query}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
      const lines = res.lines();
      const end = lines.at(-1)!;
      expect(end['type']).toBe('end');
      records.push(...lines.slice(0, -1));
      ends.push(end);
      cursor = String(end['nextCursor']);
      if (end['more'] !== true) break;
    }
    return { records, ends };
  }

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    const jwksFile = join(pki.baseDir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    gw = await startGateway(pki, {
      admin: { port: 0, mtlsPort: 0, replaySettleMs: 50, tailPollMs: 50, idleTimeoutMs: 3000, oauth: { issuer: ISSUER, audience: AUDIENCE, jwksFile } },
      tenants: {
        ...TEST_TENANTS,
        // Stored times floored to the second: every record of a second shares one millisecond.
        fleet: { apps: { dashboard: {} }, privacy: { policyId: 'steps', version: 1, defaults: { '*': { action: 'keep', timeStepMs: 1000 } } } },
      },
    });
    op = pki.operator('olga');
    dashboard = pki.app('acme', 'dashboard');
    if (haveMosquitto) {
      const pem = pki.device('acme', 'truck-1');
      const json = JSON.stringify({ timeUnixMs: Date.now(), sequence: 9000, latitude: 48.85, longitude: 2.29, speedMps: 10 });
      // Spawned, not spawnSync: the gateway runs on this event loop.
      const r = await run('mosquitto_pub', ['-h', 'localhost', '-p', String(gw.port), '--cafile', pem.caPath, '--cert', pem.certPath, '--key', pem.keyPath,
        '-i', 'truck-1', '-V', 'mqttv311', '-q', '1', '-t', 'tenants/acme/devices/truck-1/location', '-m', json]);
      expect(r.status).toBe(0);
      stored['acme/truck-1/location'] = 1;
    }
    await publish('acme', 'truck-1', 'location', 4);
    await publish('acme', 'truck-1', 'sensor', 2);
    await publish('acme', 'truck-2', 'location', 3);
    await publish('acme', 'van-9', 'location', 3);
    await publish('globex', 'van-1', 'location', 2);
    await sleep(200); // past the settle time: everything is below the horizon
  }, 60_000);

  let closed = false;
  afterAll(async () => {
    for (const c of devices) c.end(true);
    if (!closed) await gw?.gateway.close();
  });

  const acmeTotal = () => Object.entries(stored).filter(([k]) => k.startsWith('acme/')).reduce((n, [, v]) => n + v, 0);

  it('an app certificate chains small pages through every record of its tenant: decrypted, no gap, no repeat, in order', async () => {
    const { records, ends } = await chain(mtls(), asPem(dashboard), 'acme', 2);
    expect(records).toHaveLength(acmeTotal());
    expect(ends.length).toBeGreaterThan(3);
    expect(new Set(records.map((r) => r['recordId'])).size).toBe(records.length);
    const keys = records.map((r) => `${r['receivedAt'] as string}|${r['recordId'] as string}`);
    expect(keys).toEqual([...keys].sort());
    const location = records.find((r) => r['stream'] === 'location')!;
    expect(location).toMatchObject({ type: 'record', tenantId: 'acme', policyId: 'none' });
    expect(typeof (location['data'] as Line)['latitude']).toBe('number');
    expect(typeof location['cursor']).toBe('string');
    // A record line's cursor resumes right after it.
    const third = records[2]!;
    const after = await adminCall(mtls(), asPem(dashboard), 'GET', `/v1/tenants/acme/records?limit=1&cursor=${third['cursor'] as string}`);
    expect(after.lines()[0]!['recordId']).toBe(records[3]!['recordId']);
  });

  it('a bearer token (tenant-reader) reads the same records; another tenant\'s app or token gets 404', async () => {
    const reader = await token({ roles: ['tenant-reader'], tenant: 'acme' }, 'reader-1');
    const viaToken = await chain(bearer(), { ca: pki.caPem, token: reader }, 'acme', 5);
    const viaCert = await chain(mtls(), asPem(dashboard), 'acme', 1000);
    expect(viaToken.records.map((r) => r['recordId'])).toEqual(viaCert.records.map((r) => r['recordId']));

    const globexApp = asPem(pki.app('globex', 'dashboard'));
    const foreign = await adminCall(mtls(), globexApp, 'GET', '/v1/tenants/acme/records');
    expect(foreign.status).toBe(404);
    expect(foreign.json()['code']).toBe('TIQ_ERR_NOT_FOUND');
    const globexToken = await token({ roles: ['tenant-admin'], tenant: 'globex' }, 'globex-admin');
    expect((await adminCall(bearer(), { ca: pki.caPem, token: globexToken }, 'GET', '/v1/tenants/acme/records/tail')).status).toBe(404);
    // Its own tenant: only its own records.
    const own = await chain(mtls(), globexApp, 'globex', 10);
    expect(own.records.map((r) => r['tenantId'])).toEqual(['globex', 'globex']);
  });

  it('an app reads only what its grant covers (its device groups and streams)', async () => {
    const { records } = await chain(mtls(), asPem(pki.app('acme', 'trucks-only')), 'acme', 3);
    expect(records.length).toBe((stored['acme/truck-1/location'] ?? 0) + (stored['acme/truck-2/location'] ?? 0));
    expect(new Set(records.map((r) => `${r['deviceId'] as string}/${r['stream'] as string}`))).toEqual(new Set(['truck-1/location', 'truck-2/location']));
  });

  it('a restricted device\'s records are not replayed until the restriction is lifted', async () => {
    expect((await adminCall(mtls(), asPem(op), 'PUT', '/v1/tenants/acme/devices/truck-2/restriction', { mode: 'drop' })).status).toBe(200);
    const during = await chain(mtls(), asPem(dashboard), 'acme', 50);
    expect(during.records.some((r) => r['deviceId'] === 'truck-2')).toBe(false);
    expect(during.records).toHaveLength(acmeTotal() - stored['acme/truck-2/location']!);
    expect((await adminCall(mtls(), asPem(op), 'PUT', '/v1/tenants/acme/devices/truck-2/restriction', { mode: 'none' })).status).toBe(200);
    expect((await chain(mtls(), asPem(dashboard), 'acme', 50)).records).toHaveLength(acmeTotal());
  });

  it('a tail with durationMs is a long poll: what was stored after the cursor, then an end line with the next cursor', async () => {
    const all = (await chain(mtls(), asPem(dashboard), 'acme', 1000)).records;
    const res = await adminCall(mtls(), asPem(dashboard), 'GET', `/v1/tenants/acme/records/tail?durationMs=300&cursor=${all.at(-3)!['cursor'] as string}`);
    expect(res.status).toBe(200);
    const lines = res.lines();
    expect(lines.filter((l) => l['type'] === 'record').map((l) => l['recordId'])).toEqual(all.slice(-2).map((r) => r['recordId']));
    expect(lines.at(-1)).toMatchObject({ type: 'end', count: 2, nextCursor: all.at(-1)!['cursor'], more: false });
  });

  it('bad cursors and times are refused with TIQ_ERR_BAD_REQUEST', async () => {
    for (const q of ['cursor=nonsense', 'from=yesterday', 'limit=0', 'cursor=c1.MQ&from=0', 'unknown=1']) {
      const res = await adminCall(mtls(), asPem(dashboard), 'GET', `/v1/tenants/acme/records?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json()['code'], q).toBe('TIQ_ERR_BAD_REQUEST');
    }
  });

  it('writes one audit entry per read, with actor, tenant, cursor range and count, never a payload', async () => {
    const before = (await gw.gateway.admin!.audit.query({ action: 'records.replay', actor: 'app:acme/dashboard', limit: 10_000 })).length;
    const { ends } = await chain(mtls(), asPem(dashboard), 'acme', 4);
    const entries = (await gw.gateway.admin!.audit.query({ action: 'records.replay', actor: 'app:acme/dashboard', limit: 10_000 })).slice(before);
    expect(entries).toHaveLength(ends.length);
    for (const [i, e] of entries.entries()) {
      expect(e).toMatchObject({ tenant: 'acme', result: 'ok', role: 'tenant-reader', target: 'tenant:acme' });
      expect(e.detail).toContain(`records=${ends[i]!['count'] as number}`);
      expect(e.detail).toContain(`next=${ends[i]!['nextCursor'] as string}`);
      expect(e.detail).toMatch(/from=c1\./);
      expect(e.detail).not.toMatch(/latitude|48\.85|truck/);
    }
  });

  it('a tail follows new records as they are stored, each once, same-millisecond ones included, with heartbeats, and is audited when the client leaves', async () => {
    const app = asPem(pki.app('fleet', 'dashboard'));
    const tail = adminStream(mtls(), app, '/v1/tenants/fleet/records/tail');
    expect(await tail.status).toBe(200);
    const a = await connect(gw.port, pki.device('fleet', 'car-1'), { clientId: 'car-1' });
    const b = await connect(gw.port, pki.device('fleet', 'car-2'), { clientId: 'car-2' });
    devices.push(a, b);
    const sent = 12;
    await Promise.all([a, b].map(async (c, k) => {
      for (let i = 0; i < sent / 2; i++) await c.publishAsync(`tenants/fleet/devices/car-${k + 1}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
    }));
    const lines = await tail.until((ls) => ls.filter((l) => l['type'] === 'record').length >= sent, 15_000);
    await tail.until((ls) => ls.some((l) => l['type'] === 'heartbeat'), 5000);
    const records = lines.filter((l) => l['type'] === 'record');
    expect(records).toHaveLength(sent);
    expect(new Set(records.map((r) => r['recordId'])).size).toBe(sent);
    // Floored to the second: several records share each stored millisecond.
    expect(new Set(records.map((r) => r['receivedAt'])).size).toBeLessThan(sent);
    tail.close();
    const deadline = Date.now() + 5000;
    let entry: { detail: string } | undefined;
    while (!entry && Date.now() < deadline) {
      entry = (await gw.gateway.admin!.audit.query({ action: 'records.tail', actor: 'app:fleet/dashboard' }))[0];
      if (!entry) await sleep(50);
    }
    expect(entry?.detail).toContain(`records=${sent}`);
    // The tail's last cursor continues with nothing new, and a replay from the start has the same records.
    const again = await chain(mtls(), app, 'fleet', 5);
    expect(again.records.map((r) => r['recordId'])).toEqual(records.map((r) => r['recordId']));
  });

  it('closing the gateway ends an open tail (audited) instead of waiting for its client', async () => {
    const tail = adminStream(mtls(), asPem(dashboard), '/v1/tenants/acme/records/tail');
    expect(await tail.status).toBe(200);
    const audit = gw.gateway.admin!.audit as AuditLog;
    const before = audit.query({ action: 'records.tail', actor: 'app:acme/dashboard' }).length;
    await gw.gateway.close();
    closed = true;
    expect(audit.query({ action: 'records.tail', actor: 'app:acme/dashboard' }).length).toBe(before + 1);
    tail.close();
  });
});
