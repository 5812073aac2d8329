/**
 * The audit log of a running gateway, through its real admin API: a change
 * whose audit entry cannot be written is refused and not applied; a flood
 * of unauthenticated requests is folded into a few entries and counted in
 * a metric; metrics scrapes are not audited one by one.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

interface Reply { status: number; text: string }

function call(port: number, pem: ClientPem, method: string, path: string, opts: { mtls?: boolean; token?: string; agent?: Agent; body?: unknown } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path, ca: pem.ca, servername: 'localhost', agent: opts.agent ?? false,
      ...(opts.mtls !== false ? { cert: pem.cert, key: pem.key } : {}),
      headers: { ...(opts.body ? { 'content-type': 'application/json' } : {}), ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(opts.body ? JSON.stringify(opts.body) : undefined);
  });
}

describe('audit log of a running gateway', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  const log = () => join(pki.baseDir, 'data', 'audit', 'audit.jsonl');
  const entries = () => readFileSync(log(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; result: string; detail: string });
  const api = (method: string, path: string, body?: unknown) => call(gw.gateway.adminPorts.mtlsPort, op, method, path, { body });

  const statuses = async () => {
    const list = JSON.parse((await api('GET', '/v1/tenants/acme/devices')).text) as { devices: { deviceId: string; certificates: { status: string }[] }[] };
    return list.devices.find((d) => d.deviceId === 'truck-31')?.certificates.map((c) => c.status);
  };

  beforeAll(async () => {
    gw = await startGateway(pki, { audit: { checkpointExport: { file: join(pki.baseDir, 'checkpoints.jsonl'), intervalMs: 1000 } } });
    op = pki.operator('alice');
  });
  afterAll(async () => {
    await gw?.gateway.close();
  });

  it('a revoke whose audit entry cannot be written answers 503 TIQ_ERR_AUDIT and revokes nothing', async () => {
    const pem = pki.device('acme', 'truck-31');
    (await connect(gw.port, pem, { clientId: 'truck-31' })).end(true);
    // The log made unwritable: a directory where the file was (root ignores file modes).
    renameSync(log(), `${log()}.aside`);
    mkdirSync(log());
    try {
      const res = await api('POST', '/v1/tenants/acme/devices/truck-31/revoke', {});
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toMatchObject({ code: 'TIQ_ERR_AUDIT' });
    } finally {
      rmSync(log(), { recursive: true });
      renameSync(`${log()}.aside`, log());
    }
    // Not revoked: the device still connects and its certificate is active.
    (await connect(gw.port, pem, { clientId: 'truck-31' })).end(true);
    expect(await statuses()).toEqual(['active']);
    const res = await api('POST', '/v1/tenants/acme/devices/truck-31/revoke', {});
    expect(res.status).toBe(200);
    const revokes = entries().filter((e) => e.action === 'devices.revoke');
    // The intent is on disk before the change, the outcome after it.
    expect(revokes.map((e) => e.result)).toEqual(['started', 'ok']);
    expect(await statuses()).toEqual(['revoked']);
    expect(verifyAuditLog(log())).toMatchObject({ ok: true });
  });

  it('a full disk (ENOSPC from /dev/full): restriction, private mode, hold and erasure are refused with TIQ_ERR_AUDIT and none is applied', async () => {
    const pem = pki.device('acme', 'truck-32');
    (await connect(gw.port, pem, { clientId: 'truck-32' })).end(true);
    const before = entries().length;
    // Every write to /dev/full fails with ENOSPC, as on a full file system.
    renameSync(log(), `${log()}.aside`);
    symlinkSync('/dev/full', log());
    const refused: [number, string][] = [];
    try {
      for (const [method, path, body] of [
        ['PUT', '/v1/tenants/acme/devices/truck-32/restriction', { mode: 'refuse' }],
        ['PUT', '/v1/tenants/acme/devices/truck-32/private-mode', { on: true }],
        ['PUT', '/v1/tenants/acme/legal-holds', { deviceId: 'truck-32', held: true }],
        ['POST', '/v1/tenants/acme/devices/truck-32/erasure', {}],
      ] as const) {
        const res = await api(method, path, body);
        refused.push([res.status, (JSON.parse(res.text) as { code: string }).code]);
      }
    } finally {
      rmSync(log());
      renameSync(`${log()}.aside`, log());
    }
    expect(refused).toEqual(Array(4).fill([503, 'TIQ_ERR_AUDIT']));
    // Nothing was applied: no restriction, no private mode, no hold; the device still connects.
    expect(JSON.parse((await api('GET', '/v1/tenants/acme/devices/truck-32/restriction')).text)).toMatchObject({ mode: 'none' });
    expect(JSON.parse((await api('GET', '/v1/tenants/acme/devices/truck-32/private-mode')).text)).toEqual({ on: false });
    expect(gw.gateway.control.get('legal-hold', 'acme/truck-32')).toBeUndefined();
    (await connect(gw.port, pem, { clientId: 'truck-32' })).end(true);
    // The log is whole and verifies; the refusals left no entries.
    expect(entries().slice(before).filter((e) => e.detail.includes('truck-32') || e.action.startsWith('subjects.'))).toEqual([]);
    expect(verifyAuditLog(log())).toMatchObject({ ok: true });
  });

  it('exports the checkpoint to the configured file outside the data directory, and the copy verifies the log', async () => {
    const exported = join(pki.baseDir, 'checkpoints.jsonl');
    expect((await api('PUT', '/v1/tenants/acme/devices/truck-33/restriction', { mode: 'drop' })).status).toBe(200);
    const head = entries().at(-1) as unknown as { seq: number; hash: string };
    const newest = () => { try { return JSON.parse(readFileSync(exported, 'utf8').trim().split('\n').at(-1)!) as { seq: number; hash: string }; } catch { return undefined; } };
    for (let i = 0; i < 60 && (newest()?.seq ?? 0) < head.seq; i++) await new Promise((r) => setTimeout(r, 100));
    expect(newest()).toMatchObject({ seq: head.seq, hash: head.hash });
    expect(verifyAuditLog(log(), { checkpointFile: exported })).toMatchObject({ ok: true });
  });

  it('500 unauthenticated requests add a few entries, not 500, and a metric counts every one', async () => {
    const before = entries().length;
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      for (let i = 0; i < 50; i++) {
        // Varying paths and verbs, as a scanner would: still one source.
        const batch = Array.from({ length: 10 }, (_, j) => j % 3
          ? call(gw.gateway.adminPorts.port, op, j % 2 ? 'GET' : 'POST', `/v1/tenants/t${i}x${j}/devices`, { mtls: false, token: 'not-a-token', agent })
          : call(gw.gateway.adminPorts.port, op, 'POST', '/v1/tenants/acme/keys/rotate', { mtls: false, token: 'not-a-token', agent }));
        for (const r of await Promise.all(batch)) expect(r.status).toBe(401);
      }
    } finally {
      agent.destroy();
    }
    const added = entries().length - before;
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThan(10);
    const metrics = await api('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const denied = metrics.text.split('\n').filter((l) => l.startsWith('thingiq_audit_aggregated_events_total{') && l.includes('result="denied"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(denied).toBeGreaterThanOrEqual(500);
  });

  it('metrics scrapes are not audited one by one', async () => {
    const before = entries().length;
    for (let i = 0; i < 5; i++) expect((await api('GET', '/metrics')).status).toBe(200);
    expect(entries().length).toBe(before);
    expect(entries().some((e) => e.action === 'metrics')).toBe(false);
  });

  it('a device toggling private mode 60 times: every toggle acknowledged and in force, at most ten audited one by one', async () => {
    const before = entries().filter((e) => e.action.startsWith('private-mode.')).length;
    const device = await connect(gw.port, pki.device('acme', 'truck-32'), { clientId: 'truck-32' });
    try {
      for (let i = 0; i < 60; i++) await device.publishAsync('tenants/acme/devices/truck-32/control/private-mode', i % 2 === 0 ? 'on' : 'off', { qos: 1 });
    } finally {
      await device.endAsync();
    }
    expect(gw.gateway.privateMode.isOn('acme', 'truck-32')).toBe(false);
    const audited = entries().filter((e) => e.action.startsWith('private-mode.')).length - before;
    // Ten one by one, then the first of each direction in the interval; the rest in the summaries.
    expect(audited).toBeGreaterThanOrEqual(10);
    expect(audited).toBeLessThanOrEqual(12);
  });
});
