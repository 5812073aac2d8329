/**
 * The operator's metrics over a real gateway: duplicates, deliveries to
 * subscribers, bytes on MQTT connections and certificate expiry, scraped
 * from the unauthenticated loopback listener with a plain HTTP client.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { parseConfig } from '../../src/config/load.ts';
import { expiringByTenant } from '../../src/pki/certificate-expiry.ts';
import type { IssuedRecord } from '../../src/pki/issuance-registry.ts';
import { connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, sensor, SENSOR } from '../helpers/telemetry.ts';

const DAY = 24 * 3600 * 1000;

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The value of one sample, by metric name and exact labels; undefined when absent. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[3]);
  }
  return undefined;
}

describe('metrics', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  let app: MqttClient;
  let scrapePort: number;

  beforeAll(async () => {
    // Certificates of acme expiring in 3 and 20 days, one of globex in 100 days, one expired and one revoked.
    pki.device('acme', 'soon-1', { notAfter: new Date(Date.now() + 3 * DAY) });
    pki.device('acme', 'soon-2', { notAfter: new Date(Date.now() + 20 * DAY) });
    pki.device('globex', 'later', { notAfter: new Date(Date.now() + 100 * DAY) });
    gw = await startGateway(pki, { metrics: { port: 0 } });
    scrapePort = gw.gateway.metricsListener!.port;
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    app = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'dash' });
  });
  afterAll(async () => {
    device?.end(true);
    app?.end(true);
    await gw?.gateway.close();
  });

  it('serves GET /metrics on loopback without credentials, and nothing else', async () => {
    const r = await get(scrapePort, '/metrics');
    expect(r.status).toBe(200);
    expect(r.body).toContain('# TYPE thingiq_messages_total counter');
    expect((await get(scrapePort, '/admin/tenants')).status).toBe(404);
    expect((await get(scrapePort, '/metrics', 'POST')).status).toBe(405);
  });

  it('counts a resent message as a duplicate of its tenant and stream, and each delivery to the subscribed app', async () => {
    const sub = await subscribe(app, 'tenants/acme/devices/+/sensor');
    const topic = 'tenants/acme/devices/truck-1/sensor';
    const payload = encode(SENSOR, sensor({ sequence: 7 }));
    await device.publishAsync(topic, payload, { qos: 1 });
    await device.publishAsync(topic, payload, { qos: 1, dup: true });
    await sub.next(2);
    const body = (await get(scrapePort, '/metrics')).body;
    expect(sample(body, 'thingiq_duplicates_total', { tenant: 'acme', stream: 'sensor' })).toBe(1);
    expect(sample(body, 'thingiq_deliveries_total', { tenant: 'acme' })).toBe(2);
  });

  it('counts bytes in and out per tenant, growing with traffic', async () => {
    const before = (await get(scrapePort, '/metrics')).body;
    const inBefore = sample(before, 'thingiq_mqtt_bytes_total', { tenant: 'acme', direction: 'in' }) ?? 0;
    await device.publishAsync('tenants/acme/devices/truck-1/sensor', encode(SENSOR, sensor({ sequence: 8 })), { qos: 1 });
    const after = (await get(scrapePort, '/metrics')).body;
    expect(sample(after, 'thingiq_mqtt_bytes_total', { tenant: 'acme', direction: 'in' })).toBeGreaterThan(inBefore);
    expect(sample(after, 'thingiq_mqtt_bytes_total', { tenant: 'acme', direction: 'out' })).toBeGreaterThan(0);
  });

  it('reports certificates expiring within 7 and 30 days per tenant, and the CA and server certificate expiry', async () => {
    const body = (await get(scrapePort, '/metrics')).body;
    expect(sample(body, 'thingiq_certificates_expiring', { tenant: 'acme', within: '7d' })).toBe(1);
    expect(sample(body, 'thingiq_certificates_expiring', { tenant: 'acme', within: '30d' })).toBe(2);
    expect(sample(body, 'thingiq_certificates_expiring', { tenant: 'globex', within: '30d' })).toBe(0);
    const ca = sample(body, 'thingiq_certificate_expiry_timestamp_seconds', { certificate: 'ca' })!;
    const server = sample(body, 'thingiq_certificate_expiry_timestamp_seconds', { certificate: 'server' })!;
    expect(ca * 1000).toBeGreaterThan(Date.now() + 30 * DAY);
    expect(server * 1000).toBeGreaterThan(Date.now());
  });

  it('labels name tenants, streams and sinks only: no device id appears in any sample', async () => {
    const body = (await get(scrapePort, '/metrics')).body;
    for (const id of ['truck-1', 'soon-1', 'soon-2', 'dash']) expect(body).not.toContain(`"${id}"`);
  });
});

describe('certificate expiry counting', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const rec = (tenantId: string, days: number, extra: Partial<IssuedRecord> = {}): IssuedRecord => ({
    serial: '1', uri: '', kind: 'device', tenantId, subject: '', notBefore: '', issuedAt: '',
    notAfter: new Date(now + days * DAY).toISOString(), status: 'active', ...extra,
  });

  it('ignores revoked, already expired and operator certificates', () => {
    const rows = expiringByTenant([
      rec('a', 1), rec('a', -1), rec('a', 2, { status: 'revoked' }), rec('a', 8),
      { ...rec('x', 1), kind: 'operator', tenantId: undefined } as unknown as IssuedRecord,
    ], now);
    expect(rows).toEqual([[{ tenant: 'a', within: '7d' }, 1], [{ tenant: 'a', within: '30d' }, 2]]);
  });
});

describe('metrics listener configuration', () => {
  it('refuses a non-loopback address for the unauthenticated listener', () => {
    expect(() => parseConfig({ metrics: { host: '0.0.0.0', port: 9464 } }, 'test')).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CONFIG' }));
    expect(parseConfig({ metrics: { host: '127.0.0.1', port: 9464 } }, 'test').metrics.port).toBe(9464);
  });
});
