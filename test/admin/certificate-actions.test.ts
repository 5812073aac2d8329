/**
 * Issuing and revoking answer and audit the same way for devices, apps and
 * operators (src/admin/routes/certificate-actions.ts), over the real mTLS listener.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminFixture, type Credentials } from './admin-fixture.ts';

const fx = new AdminFixture();
let op: Credentials;

beforeAll(async () => {
  await fx.start();
  op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
});
afterAll(() => fx.close());

const lastDetail = (action: string): string | undefined => fx.deps.audit.query({ action, limit: 1000 }).at(-1)?.detail;
const ISSUED = ['serial', 'certPem', 'caPem', 'notBefore', 'notAfter', 'keyPem'];

describe('certificate actions', () => {
  it('answer a device, an app and an operator with the same fields in the same order, after the id', async () => {
    const device = await fx.call('POST', '/v1/tenants/acme/devices/van-1/certificates', op, {});
    const app = await fx.call('POST', '/v1/tenants/acme/apps/dash/certificates', op, { days: 30 });
    const operator = await fx.call('POST', '/v1/operators/otto/certificates', op, { keyType: 'rsa' });
    expect([device.status, app.status, operator.status]).toEqual([201, 201, 201]);
    expect(Object.keys(device.json)).toEqual(['deviceId', ...ISSUED]);
    expect(Object.keys(app.json)).toEqual(['appId', ...ISSUED]);
    expect(Object.keys(operator.json)).toEqual(['operator', ...ISSUED]);
    for (const action of ['devices.issue', 'apps.issue', 'operators.issue']) expect(lastDetail(action)).toMatch(/^201 serial=[0-9a-f]+ generated$/);
  });

  it("refuse an app's revocation of a serial that is another identity's, and revoke nothing", async () => {
    const device = await fx.call('POST', '/v1/tenants/acme/devices/van-2/certificates', op, {});
    const serial = device.json['serial'] as string;
    const res = await fx.call('POST', '/v1/tenants/acme/apps/dash/revoke', op, { serial });
    expect([res.status, res.json['code']]).toEqual([404, 'TIQ_ERR_NOT_FOUND']);
    expect(fx.deps.pki.listCertificates('acme').find((c) => c.serial === serial)?.status).toBe('active');
  });

  it("revoke one app serial, then the app's others, and by serial say when nothing was revoked", async () => {
    const first = (await fx.call('POST', '/v1/tenants/acme/apps/feed/certificates', op, {})).json['serial'] as string;
    await fx.call('POST', '/v1/tenants/acme/apps/feed/certificates', op, {});
    const one = await fx.call('POST', '/v1/tenants/acme/apps/feed/revoke', op, { serial: first.toUpperCase() });
    expect([one.status, one.json]).toEqual([200, { revoked: [first] }]);
    expect(lastDetail('apps.revoke')).toBe(`200 revoked=${first}`);
    const rest = await fx.call('POST', '/v1/tenants/acme/apps/feed/revoke', op, {});
    expect((rest.json['revoked'] as string[])).toHaveLength(1);
    const again = await fx.call('POST', `/v1/certificates/${first}/revoke`, op, {});
    expect([again.status, again.json]).toEqual([200, { revoked: [] }]);
    expect(lastDetail('certificates.revoke')).toBe('200 revoked=none');
  });
});
