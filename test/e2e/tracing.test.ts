/**
 * OpenTelemetry traces from a real gateway to an in-process OTLP/HTTP
 * receiver (the collector's JSON encoding on POST /v1/traces): the span tree
 * of one message over mutual TLS, one span per admin request, and nothing
 * from the payload in any attribute.
 */
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; startTimeUnixNano: string;
  attributes?: { key: string; value: OtlpValue }[];
}
interface OtlpRequest {
  resourceSpans: { resource?: { attributes?: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

const MARKER = 'PLAINTEXT-MARKER-51c0de';
const EXACT = { latitude: 48.8583701, longitude: 2.2944813 };

/** A minimal OTLP/HTTP traces receiver: it keeps every request body. */
async function startReceiver(): Promise<{ server: Server; url: string; requests: OtlpRequest[]; contentTypes: string[] }> {
  const requests: OtlpRequest[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      contentTypes.push(req.headers['content-type'] ?? '');
      requests.push(JSON.parse(body) as OtlpRequest);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, requests, contentTypes };
}

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v && (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue));
}

/** A GET over HTTPS; with a client certificate on the mTLS port, without one (no credentials) on the bearer port. */
function adminGet(port: number, pem: ClientPem, path: string, withCertificate = true): Promise<number> {
  const client = withCertificate ? { cert: pem.cert, key: pem.key } : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ...client, ca: pem.ca, servername: 'localhost' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('tracing', () => {
  const pki = new TestPki();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let spans: OtlpSpan[];

  beforeAll(async () => {
    receiver = await startReceiver();
    const gw = await startGateway(pki, {
      tracing: { endpoint: receiver.url, sampleRatio: 1, serviceName: 'thingiq-test' },
      tenants: {
        ...TEST_TENANTS,
        acme: { ...TEST_TENANTS.acme, privacy: { policyId: 'fleet', version: 1, defaults: { '*': { action: 'strip' }, location: { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } } } },
      },
    });
    const device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    await device.publishAsync('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle({ ...EXACT, sequence: 1, tripId: MARKER })), { qos: 1 });
    device.end(true);
    const op = pki.operator('alice');
    expect(await adminGet(gw.gateway.adminPorts.mtlsPort, op, '/v1/tenants/acme')).toBe(200);
    expect(await adminGet(gw.gateway.adminPorts.port, op, '/v1/tenants/acme', false)).toBe(401);
    // close() flushes the batch of spans to the receiver.
    await gw.gateway.close();
    spans = receiver.requests.flatMap((r) => r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  });
  afterAll(() => {
    receiver?.server.close();
  });

  it('exports OTLP/HTTP with the configured service name', () => {
    expect(receiver.requests.length).toBeGreaterThan(0);
    expect(receiver.contentTypes[0]).toMatch(/^application\/json/);
    const names = receiver.requests.flatMap((r) => r.resourceSpans.flatMap((rs) => rs.resource?.attributes ?? []))
      .filter((a) => a.key === 'service.name').map((a) => a.value.stringValue);
    expect(new Set(names)).toEqual(new Set(['thingiq-test']));
  });

  it('one message gives a root span with one child per pipeline stage, in order, in the same trace', () => {
    const roots = spans.filter((s) => s.name === 'mqtt.publish');
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    expect(root.parentSpanId ?? '').toBe('');
    expect(attr(root, 'thingiq.tenant')).toBe('acme');
    expect(attr(root, 'thingiq.stream')).toBe('location');
    expect(attr(root, 'thingiq.outcome')).toBe('stored');
    const children = spans.filter((s) => s.parentSpanId === root.spanId)
      .sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
    expect(children.map((s) => s.name)).toEqual(['pipeline.decode', 'pipeline.validate', 'pipeline.privacy', 'pipeline.encrypt', 'pipeline.store']);
    for (const c of children) expect(c.traceId).toBe(root.traceId);
  });

  it('each admin request, refused ones included, gives a span named by its route template, without the ids of its URL', () => {
    const admin = spans.filter((s) => attr(s, 'http.request.method') !== undefined);
    expect(admin.map((s) => s.name)).toEqual(['GET /v1/tenants/:tenant', 'GET /v1/tenants/:tenant']);
    expect(admin.map((s) => attr(s, 'http.response.status_code')).sort()).toEqual([200, 401]);
    for (const s of admin) expect(JSON.stringify(s)).not.toContain('/v1/tenants/acme');
  });

  it('no span attribute holds the payload, a coordinate or the device id', () => {
    const values = spans.flatMap((s) => (s.attributes ?? []).map((a) => JSON.stringify(a.value)));
    expect(values.length).toBeGreaterThan(10);
    for (const v of values) {
      expect(v).not.toContain(MARKER);
      expect(v).not.toMatch(/48\.85|2\.294/);
      expect(v).not.toContain('truck-1');
    }
    expect(JSON.stringify(receiver.requests)).not.toContain(MARKER);
  });
});

describe('tracing off (the default)', () => {
  it('creates no tracer, so the message path does no tracing work', async () => {
    const gw = await startGateway(new TestPki());
    try {
      expect(gw.gateway.tracer).toBeUndefined();
    } finally {
      await gw.gateway.close();
    }
  });
});
