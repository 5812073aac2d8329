/**
 * `thingiq config show --effective --json` next to a running gateway whose
 * admin API changed apps, device groups and a privacy policy: the file plus
 * those changes, each tenant value with its source, and the same apps the
 * gateway enforces.
 */
import { request } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../cli/run-cli.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';

function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const TENANTS = { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, quotas: { maxConnections: 50 } } };
const POLICY = { policyId: 'globex-api', version: 1, defaults: { '*': { action: 'strip' } } };

type Shown = {
  file: string;
  config: { tenants: Record<string, { apps: Record<string, unknown> }> };
  values: { path: string; source: string; value: unknown }[];
  deletedByApi: string[];
};

describe('thingiq config show --effective', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    writeFileSync(join(pki.baseDir, 'gateway.yaml'), stringify({ pkiDir: 'certs', dataDir: 'data', admin: { port: 0, mtlsPort: 0 }, tenants: TENANTS }));
    gw = await startGateway(pki, { tenants: TENANTS });
    const op = pki.operator('olga');
    const api = (method: string, path: string, body?: unknown) => call(gw.gateway.adminPorts.mtlsPort, op, method, path, body);
    expect(await api('PUT', '/v1/tenants/acme/apps/auditor', { streams: ['location'] })).toBe(200);
    expect(await api('DELETE', '/v1/tenants/acme/apps/trucks-only')).toBe(200);
    expect(await api('PUT', '/v1/tenants/acme/device-groups/vans', { devices: ['van-1'] })).toBe(200);
    expect(await api('PUT', '/v1/tenants/globex/privacy-policy', { policy: POLICY })).toBe(200);
  });
  afterAll(async () => {
    await gw?.gateway.close();
  });

  it('merges the API changes over the file and names the source of each tenant value', async () => {
    const r = await runCli(pki.baseDir, ['--config', 'gateway.yaml', 'config', 'show', '--effective', '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as Shown;
    const at = (path: string) => shown.values.find((v) => v.path === path);
    expect(at('tenants.acme.apps.auditor')).toEqual({ path: 'tenants.acme.apps.auditor', source: 'api', value: { streams: ['location'] } });
    expect(at('tenants.acme.apps.dashboard')).toMatchObject({ source: 'file' });
    expect(at('tenants.acme.apps.trucks-only')).toBeUndefined();
    expect(shown.deletedByApi).toEqual(['tenants.acme.apps.trucks-only']);
    expect(at('tenants.acme.deviceGroups.vans')).toEqual({ path: 'tenants.acme.deviceGroups.vans', source: 'api', value: ['van-1'] });
    expect(at('tenants.acme.deviceGroups.trucks')).toMatchObject({ source: 'file' });
    expect(at('tenants.globex.privacy')).toMatchObject({ path: 'tenants.globex.privacy', source: 'api', value: POLICY });
    expect(at('tenants.acme.privacy')).toMatchObject({ source: 'default', value: null });
    expect(at('tenants.acme.active')).toMatchObject({ source: 'default', value: true });
    expect(at('tenants.dormant.active')).toMatchObject({ source: 'file', value: false });
    expect(at('tenants.acme.quotas.maxConnections')).toMatchObject({ source: 'file', value: 50 });
    expect(at('tenants.globex.quotas.maxConnections')).toMatchObject({ source: 'default' });
    expect(at('tenants.acme.streams.location')).toMatchObject({ source: 'default' });
    // What it shows is what the running gateway enforces.
    for (const t of Object.keys(TENANTS)) {
      expect(Object.keys(shown.config.tenants[t]!.apps).sort()).toEqual(Object.keys(gw.gateway.currentConfig.tenants[t]!.apps).sort());
    }
    expect(gw.gateway.privacy.policyOf('globex')).toMatchObject({ policyId: 'globex-api' });
  }, 180_000);
});
