/**
 * Every id the admin API takes, in a path, a body or a query, is held to the
 * pattern of issuance: an invalid one answers 400 TIQ_ERR_INVALID_ID and
 * nothing is persisted. Routes and id fields are enumerated from the OpenAPI
 * document the running gateway serves (itself checked against the route table),
 * so a new route or field cannot escape this test.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminServer } from '../../src/admin/admin-server.ts';
import { ID_PATTERN } from '../../src/identity/identity.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

const INVALID = ['A B<x>\n', '../acme/truck-1', 'Truck-1', '-truck', 'truck_1', 'a'.repeat(64), 'truck-1\u0000', 'camión'];
/** Valid values per path parameter: with one of them replaced by an invalid id, only that id is wrong. */
const VALID_PARAM: Record<string, string> = { tenant: 'acme', device: 'truck-1', app: 'dashboard', group: 'trucks', operator: 'alice', serial: '0a1b2c', claim: 'line-1' };
/** A valid body per operation that takes ids in its body; the test fails for an operation missing here. */
const VALID_BODY: Record<string, Record<string, unknown>> = {
  'apps.put': { streams: ['location'], deviceGroups: ['trucks'] },
  'device-groups.put': { devices: ['truck-1'] },
  'devices.register': { deviceId: 'truck-9' },
  'privacy.preview': { deviceId: 'truck-1', points: [{ latitude: 52.52, longitude: 13.405, timeUnixMs: 1717578000000 }] },
  'retention.rule.set': { stream: 'location', days: 30, retentionClass: 'loc-30d', deviceGroup: 'trucks' },
  'retention.hold.set': { deviceId: 'truck-1', held: true },
  'subjects.objection': { purpose: 'marketing' },
  'provisioning.claims.create': { claimId: 'line-1', deviceIdPattern: 'truck-*', deviceGroup: 'trucks', maxDevices: 5, validDays: 1 },
};

type Schema = { type?: string; pattern?: string; items?: Schema; properties?: Record<string, Schema> };
type Operation = { operationId: string; parameters?: { name: string; in: string; schema?: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> } };
type Doc = { paths: Record<string, Record<string, unknown>> };
interface Op { method: string; path: string; op: Operation }

function operations(doc: Doc): Op[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => ['get', 'put', 'post', 'delete'].flatMap((m) =>
    (item[m] ? [{ method: m.toUpperCase(), path, op: item[m] as Operation }] : [])));
}

const isIdSchema = (s: Schema | undefined) => s?.pattern === ID_PATTERN.source;

/** Body properties that are ids (a string or an array of them), per the document. */
function bodyIdFields(op: Operation): { field: string; array: boolean }[] {
  const props = op.requestBody?.content['application/json']?.schema.properties ?? {};
  return Object.entries(props).flatMap<{ field: string; array: boolean }>(([field, s]) => (isIdSchema(s) ? [{ field, array: false }] : isIdSchema(s.items) ? [{ field, array: true }] : []));
}

function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** Content hash of every file under dir, except SQLite's shared-memory index (readers write their marks in it). */
function snapshot(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      // The audit log and its checkpoint record the refusals; the control store is compared by its changes (the audit head moves).
      else if (!name.endsWith('-shm') && !name.startsWith('control.db') && p !== skip && !(dirname(p) === dirname(skip) && name === 'checkpoint.json')) out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

describe('ids in the admin API', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  let ops: Op[];
  const api = (method: string, path: string, body?: unknown) => call(gw.gateway.adminPorts.mtlsPort, op, method, path, body);
  const auditFile = () => join(pki.baseDir, 'data', 'audit', 'audit.jsonl');

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
    const doc = (await api('GET', '/openapi.json')).json as unknown as Doc;
    ops = operations(doc);
    expect((await api('GET', '/v1/tenants')).status).toBe(200); // the first audited call creates the log
  }, 240_000);
  afterAll(async () => { await gw?.gateway.close(); });

  it('the document lists exactly the routes of the running gateway', () => {
    const server = (gw.gateway as unknown as { adminServer: AdminServer }).adminServer;
    expect(ops.map((o) => `${o.method} ${o.path.replace(/\{(\w+)\}/g, ':$1')}`).sort()).toEqual(server.routes());
    expect(ops.length).toBeGreaterThan(30);
  });

  it('refuses an invalid id in every path parameter, body field and query with 400 TIQ_ERR_INVALID_ID, and persists nothing', async () => {
    expect(existsSync(auditFile())).toBe(true);
    const auditBefore = readFileSync(auditFile(), 'utf8').length;
    const before = snapshot(pki.baseDir, auditFile());
    const controlBefore = gw.gateway.control.version;
    let checked = 0;
    const failures: string[] = [];
    const expectRefused = async (label: string, method: string, path: string, body?: unknown) => {
      const res = await api(method, path, body);
      checked++;
      if (res.status !== 400 || res.json['code'] !== 'TIQ_ERR_INVALID_ID') failures.push(`${label}: ${res.status} ${String(res.json['code'])}`);
    };
    for (const { method, path, op: o } of ops) {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const body = VALID_BODY[o.operationId];
      for (const param of params) {
        expect(VALID_PARAM[param], `a valid value for path parameter ${param}`).toBeDefined();
        for (const bad of INVALID) {
          const url = path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(p === param ? bad : VALID_PARAM[p]!));
          if (param === 'serial') {
            // A serial is hex, not an id: refused as a bad request, and nothing persisted either.
            const res = await api(method, url, body ?? {});
            checked++;
            if (res.status !== 400) failures.push(`${method} ${path} serial=${JSON.stringify(bad)}: ${res.status}`);
            continue;
          }
          await expectRefused(`${method} ${path} ${param}=${JSON.stringify(bad)}`, method, url, body ?? (method === 'GET' || method === 'DELETE' ? undefined : {}));
        }
      }
      const fields = bodyIdFields(o);
      if (fields.length) expect(body, `a valid body for ${o.operationId}`).toBeDefined();
      const validPath = path.replace(/\{(\w+)\}/g, (_, p: string) => VALID_PARAM[p]!);
      for (const { field, array } of fields) {
        for (const bad of INVALID) {
          await expectRefused(`${method} ${path} body.${field}=${JSON.stringify(bad)}`, method, validPath, { ...body, [field]: array ? [bad] : bad });
        }
      }
      for (const q of (o.parameters ?? []).filter((p) => p.in === 'query' && isIdSchema(p.schema))) {
        for (const bad of INVALID) await expectRefused(`${method} ${path}?${q.name}`, method, `${validPath}?${q.name}=${encodeURIComponent(bad)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(300);
    expect(snapshot(pki.baseDir, auditFile())).toEqual(before);
    // Nothing changed in the control store but the audit chain's head, which records the refusals' audit entries.
    expect((await gw.gateway.control.changesSince(controlBefore)).filter((e) => e.kind !== 'audit-head')).toEqual([]);
    // The refusals are audited, without the invalid ids: the log is append-only, what enters it stays.
    const added = readFileSync(auditFile(), 'utf8').slice(auditBefore).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    // Refusals are audited, repeated ones folded into one entry per source and minute (docs/admin.md).
    expect(added.length).toBeGreaterThan(0);
    expect(added.length).toBeLessThanOrEqual(checked);
    for (const e of added) {
      for (const bad of INVALID) expect(JSON.stringify(e)).not.toContain(JSON.stringify(bad).slice(1, -1));
      if (e['result'] === 'started') continue; // the intent entry of a state change (fail closed), closed by its outcome
      expect(e['result']).toBe('failed');
      expect(e['detail']).toContain('TIQ_ERR_INVALID_ID');
      for (const bad of INVALID) expect(JSON.stringify(e)).not.toContain(JSON.stringify(bad).slice(1, -1));
    }
  }, 240_000);

  it('still accepts the valid ids it refuses variants of', async () => {
    expect((await api('PUT', '/v1/tenants/acme/devices/truck-1/restriction', { mode: 'drop' })).status).toBe(200);
    expect((await api('PUT', '/v1/tenants/acme/device-groups/vans', { devices: ['van-1'] })).status).toBe(200);
  });
});
