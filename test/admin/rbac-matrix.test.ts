/**
 * Every endpoint × every kind of caller, over real HTTPS on both listeners,
 * with the expected status and error code. Scope is checked before role, so
 * a tenant-admin of another tenant always gets 404, never 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgeCsr } from '../helpers/device-maker.ts';
import { AdminFixture, type Credentials } from './admin-fixture.ts';
import { CONSOLE_ROUTES } from './console-routes.ts';

/** 'claim': only a provisioning claim certificate authenticates (on the mTLS listener). */
type Needs = 'public' | 'claim' | 'operator' | 'tenant-admin' | 'tenant-reader';
/** `prepare` runs before every call: what a successful call consumes (an app to delete) is there each time. */
interface Endpoint { method: string; path: string; needs: Needs; ok: number; tenantScoped: boolean; body?: () => unknown; prepare?: () => void }

let csrPem = '';
let registrations = 0;
let claims = 0;
const T = '/v1/tenants/acme';
const D = `${T}/devices/truck-1`;
export const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/healthz', needs: 'public', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/readyz', needs: 'public', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/openapi.json', needs: 'public', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/metrics', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/v1/tenants', needs: 'tenant-reader', ok: 200, tenantScoped: false },
  { method: 'GET', path: T, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'GET', path: `${T}/apps`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${T}/apps/reporting`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ streams: ['sensor'], deviceGroups: ['fleet'] }) },
  { method: 'DELETE', path: `${T}/apps/temp`, needs: 'tenant-admin', ok: 200, tenantScoped: true, prepare: () => fx.deps.tenantChanges.putApp('acme', 'temp', {}, 'test') },
  { method: 'GET', path: `${T}/device-groups`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${T}/device-groups/vans`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ devices: ['van-1', 'van-2'] }) },
  { method: 'DELETE', path: `${T}/device-groups/old`, needs: 'tenant-admin', ok: 200, tenantScoped: true, prepare: () => fx.deps.tenantChanges.putDeviceGroup('acme', 'old', ['van-9'], 'test') },
  { method: 'GET', path: `${T}/devices`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${T}/devices`, needs: 'tenant-admin', ok: 201, tenantScoped: true, body: () => ({ deviceId: `reg-${++registrations}`, note: 'matrix' }) },
  { method: 'POST', path: `${D}/certificates`, needs: 'tenant-admin', ok: 201, tenantScoped: true, body: () => ({ csr: csrPem }) },
  { method: 'POST', path: `${D}/revoke`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({}) },
  { method: 'POST', path: `${T}/apps/ci-bot/certificates`, needs: 'tenant-admin', ok: 201, tenantScoped: true, body: () => ({ csr: csrPem }) },
  { method: 'POST', path: `${T}/apps/ci-bot/revoke`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({}) },
  { method: 'POST', path: '/v1/operators/ci/certificates', needs: 'operator', ok: 201, tenantScoped: false, body: () => ({ csr: csrPem }) },
  { method: 'POST', path: '/v1/certificates/0abc/revoke', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: `${D}/restriction`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${D}/restriction`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ mode: 'drop' }) },
  { method: 'GET', path: `${D}/private-mode`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${D}/private-mode`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ on: true }) },
  { method: 'GET', path: `${T}/privacy-policy`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${T}/privacy-policy`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ policy: { policyId: 'acme-default', version: Date.now() % 1_000_000_000, defaults: { '*': { action: 'strip' } } } }) },
  { method: 'POST', path: `${T}/privacy-policy/validate`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ policy: { policyId: 'p', version: 2 } }) },
  { method: 'POST', path: `${T}/privacy-policy/preview`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ deviceId: 'truck-1', points: [{ latitude: 52.52, longitude: 13.405, timeUnixMs: 1717578000000 }] }) },
  { method: 'GET', path: `${T}/retention`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'PUT', path: `${T}/retention/rules`, needs: 'tenant-admin', ok: 200, tenantScoped: true, body: () => ({ stream: 'location', days: 30 }) },
  { method: 'PUT', path: `${T}/legal-holds`, needs: 'operator', ok: 200, tenantScoped: true, body: () => ({ deviceId: 'truck-9', held: false }) },
  { method: 'POST', path: '/v1/retention/sweep', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/v1/retention/sweeper', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'POST', path: '/v1/backups', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/v1/cluster/members', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: `${T}/keys`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${T}/keys/rotate`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${T}/keys/rewrap`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${D}/keys/shred`, needs: 'operator', ok: 200, tenantScoped: true },
  { method: 'GET', path: `${D}/data`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'GET', path: `${T}/records`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'GET', path: `${T}/records/tail?durationMs=1`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${D}/erasure`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'GET', path: `${D}/objections`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${D}/objections`, needs: 'tenant-admin', ok: 201, tenantScoped: true, body: () => ({ purpose: 'marketing' }) },
  { method: 'GET', path: '/v1/audit', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/v1/audit/verify', needs: 'operator', ok: 200, tenantScoped: false },
  { method: 'GET', path: '/v1/overview', needs: 'tenant-reader', ok: 200, tenantScoped: false },
  { method: 'GET', path: `${T}/provisioning/claims`, needs: 'tenant-reader', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${T}/provisioning/claims`, needs: 'tenant-admin', ok: 201, tenantScoped: true, body: () => ({ claimId: `line-${++claims}`, deviceIdPattern: 'x-*', maxDevices: 1, validDays: 1 }) },
  { method: 'POST', path: `${T}/provisioning/claims/retired/revoke`, needs: 'tenant-admin', ok: 200, tenantScoped: true },
  { method: 'POST', path: `${T}/provisioning/devices/truck-1`, needs: 'claim', ok: 201, tenantScoped: true, body: () => ({ csr: csrPem }) },
];

/** A caller: its credentials, and either the role it acts as or the refusal it always gets. */
interface Caller { name: string; creds: () => Credentials; role?: 'operator' | 'tenant-admin' | 'tenant-reader'; otherTenant?: boolean; refused?: [number, string]; claim?: boolean }

const fx = new AdminFixture();
const creds: Record<string, Credentials> = {};
const CALLERS: Caller[] = [
  { name: 'operator certificate', creds: () => creds.opCert!, role: 'operator' },
  { name: 'operator token with MFA', creds: () => creds.opMfa!, role: 'operator' },
  { name: 'operator token without MFA', creds: () => creds.opNoMfa!, refused: [401, 'TIQ_ERR_MFA_REQUIRED'] },
  { name: 'tenant-admin, own tenant', creds: () => creds.adminOwn!, role: 'tenant-admin' },
  { name: 'tenant-admin, other tenant', creds: () => creds.adminOther!, role: 'tenant-admin', otherTenant: true },
  { name: 'tenant-reader token', creds: () => creds.reader!, role: 'tenant-reader' },
  { name: 'app certificate (tenant-reader)', creds: () => creds.appCert!, role: 'tenant-reader' },
  { name: 'unauthenticated', creds: () => ({}), refused: [401, 'TIQ_ERR_UNAUTHENTICATED'] },
  { name: 'expired token', creds: () => creds.expired!, refused: [401, 'TIQ_ERR_TOKEN_INVALID'] },
  { name: 'wrong audience', creds: () => creds.wrongAud!, refused: [401, 'TIQ_ERR_TOKEN_INVALID'] },
  { name: 'wrong issuer', creds: () => creds.wrongIss!, refused: [401, 'TIQ_ERR_TOKEN_INVALID'] },
  { name: 'revoked operator certificate', creds: () => creds.revoked!, refused: [401, 'TIQ_ERR_CERT_REVOKED'] },
  { name: 'device certificate', creds: () => creds.device!, refused: [403, 'TIQ_ERR_FORBIDDEN'] },
  { name: 'provisioning claim certificate', creds: () => creds.claim!, refused: [401, 'TIQ_ERR_IDENTITY'], claim: true },
];

const RANK = { 'tenant-reader': 1, 'tenant-admin': 2, operator: 3 } as const;

function expected(e: Endpoint, c: Caller): [number, string | undefined] {
  if (e.needs === 'public') return [e.ok, undefined];
  // The claim's template admits no truck: its own route refuses it past authentication; no other credential authenticates there.
  if (e.needs === 'claim') {
    if (c.claim) return [403, 'TIQ_ERR_CLAIM_DEVICE_ID'];
    if (c.creds().cert === undefined) return [401, 'TIQ_ERR_UNAUTHENTICATED'];
    return c.name === 'revoked operator certificate' ? [401, 'TIQ_ERR_CERT_REVOKED'] : [401, 'TIQ_ERR_IDENTITY'];
  }
  if (c.refused) return c.refused;
  if (c.otherTenant && e.tenantScoped) return [404, 'TIQ_ERR_NOT_FOUND'];
  return RANK[c.role!] >= RANK[e.needs] ? [e.ok, undefined] : [403, 'TIQ_ERR_FORBIDDEN'];
}

beforeAll(async () => {
  await fx.start();
  csrPem = forgeCsr('truck-1').pem;
  creds.opCert = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
  creds.appCert = fx.certificate({ kind: 'app', tenantId: 'acme', appId: 'dash', uri: '' });
  creds.device = fx.certificate({ kind: 'device', tenantId: 'acme', deviceId: 'truck-2', uri: '' });
  const revoked = fx.certificate({ kind: 'operator', operatorName: 'mallory', uri: '' });
  await fx.deps.pki.revoke({ serial: revoked.serial }, 'test');
  creds.revoked = revoked;
  creds.opMfa = { token: await fx.token({ roles: ['operator'], amr: ['pwd', 'otp'] }) };
  creds.opNoMfa = { token: await fx.token({ roles: ['operator'], amr: ['pwd'] }) };
  creds.adminOwn = { token: await fx.token({ roles: ['tenant-admin'], tenant: 'acme' }) };
  creds.adminOther = { token: await fx.token({ roles: ['tenant-admin'], tenant: 'globex' }) };
  creds.reader = { token: await fx.token({ roles: 'tenant-reader', tenant: 'acme' }) };
  creds.expired = { token: await fx.token({ roles: ['operator'], amr: ['otp'] }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 }) };
  creds.wrongAud = { token: await fx.token({ roles: ['operator'], amr: ['otp'] }, { audience: 'someone-else' }) };
  const expiresAt = new Date(Date.now() + 24 * 3600_000);
  const claimCert = await fx.deps.provisioning!.issueClaimCertificate('acme', 'factory', expiresAt, {});
  await fx.deps.provisioning!.claims.create({ tenantId: 'acme', claimId: 'factory', deviceIdPattern: 'sensor-*', maxDevices: 5, expiresAt: expiresAt.toISOString(),
    certificateDays: 30, serial: claimCert.serial, createdAt: new Date().toISOString(), createdBy: 'test' }, 'test');
  creds.claim = { cert: claimCert.certPem, key: claimCert.keyPem };
  await fx.deps.provisioning!.claims.create({ tenantId: 'acme', claimId: 'retired', deviceIdPattern: '*', maxDevices: 1, expiresAt: expiresAt.toISOString(),
    certificateDays: 30, serial: '1f', createdAt: new Date().toISOString(), createdBy: 'test' }, 'test');
  creds.wrongIss = { token: await fx.token({ roles: ['operator'], amr: ['otp'] }, { issuer: 'https://evil.test.invalid/' }) };
}, 60_000);

afterAll(() => fx.close());

describe('RBAC matrix', () => {
  it('covers every route of the server', () => {
    const tested = ENDPOINTS.map((e) => `${e.method} ${e.path.replace(/\?.*$/, '').replace('/acme', '/:tenant').replace('/truck-1', '/:device')
      .replace(/\/apps\/[a-z-]+(\/certificates|\/revoke)?$/, '/apps/:app$1').replace(/\/device-groups\/[a-z]+$/, '/device-groups/:group')
      .replace(/\/operators\/[a-z]+\//, '/operators/:operator/').replace(/\/certificates\/[0-9a-f]+\//, '/certificates/:serial/')
      .replace('/claims/retired/', '/claims/:claim/')}`).sort();
    // The console's routes (sessions, files, the event stream) have their own tests: console-access.test.ts.
    expect(tested).toEqual(fx.server.routes().filter((r) => !CONSOLE_ROUTES.includes(r)));
  });

  for (const e of ENDPOINTS) {
    it.each(CALLERS.map((c) => [c.name, c] as const))(`${e.method} ${e.path} as %s`, async (_name, c) => {
      const [status, code] = expected(e, c);
      e.prepare?.();
      const res = await fx.call(e.method, e.path, c.creds(), e.body?.());
      expect({ status: res.status, code: res.json['code'] }).toEqual({ status, code });
      // The same 404 whether or not the object exists: compare with a tenant that does not exist.
      if (code === 'TIQ_ERR_NOT_FOUND') {
        const ghost = await fx.call(e.method, e.path.replace('/acme', '/no-such-tenant'), c.creds(), e.body?.());
        expect(ghost.status).toBe(404);
        expect(ghost.json).toEqual(res.json);
      }
    });
  }

  it('audits every call, denied ones too, and the chain verifies', async () => {
    const denied = fx.deps.audit.query({ limit: 1000 }).filter((x) => x.result === 'denied');
    expect(denied.length).toBeGreaterThan(50);
    const res = await fx.call('GET', '/v1/audit/verify', creds.opCert!);
    expect(res.json['ok']).toBe(true);
  });
});
