/**
 * Credentials that outlive what they were issued for: an app certificate
 * after its app is deleted, tenant tokens and certificates after their
 * tenant is removed or deactivated. Both listeners, real TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { AdminFixture, GATEWAY_CONFIG, type Credentials } from './admin-fixture.ts';

describe('withdrawn access on the admin API', () => {
  const fx = new AdminFixture();
  let app: Credentials;
  let globexToken: Credentials;
  let operatorToken: Credentials;

  beforeAll(async () => {
    await fx.start();
    app = fx.certificate({ kind: 'app', tenantId: 'acme', appId: 'dash', uri: '' });
    globexToken = { token: await fx.token({ roles: ['tenant-admin'], tenant: 'globex' }) };
    operatorToken = { token: await fx.token({ roles: ['operator'], amr: ['hwk'] }) };
  });
  afterAll(() => fx.close());

  it('an app certificate is refused with TIQ_ERR_NOT_AUTHORIZED once the app is deleted, and admitted again once put back', async () => {
    expect((await fx.call('GET', '/v1/tenants/acme/devices', app)).status).toBe(200);
    await fx.deps.tenantChanges.deleteApp('acme', 'dash', 'test');
    const refused = await fx.call('GET', '/v1/tenants/acme/devices', app);
    expect(refused.status).toBe(403);
    expect(refused.json['code']).toBe('TIQ_ERR_NOT_AUTHORIZED');
    expect((await fx.call('GET', '/v1/tenants', app)).status).toBe(403);
    await fx.deps.tenantChanges.putApp('acme', 'dash', { streams: ['sensor'] }, 'test');
    expect((await fx.call('GET', '/v1/tenants/acme/devices', app)).status).toBe(200);
  });

  it('a tenant token is refused once its tenant is deactivated or removed; an operator token is not', async () => {
    expect((await fx.call('GET', '/v1/tenants/globex/apps', globexToken)).status).toBe(200);
    const saved = fx.config;
    try {
      fx.config = parseConfig({ ...GATEWAY_CONFIG, tenants: { ...GATEWAY_CONFIG.tenants, globex: { active: false } } });
      for (const path of ['/v1/tenants/globex/apps', '/v1/tenants']) {
        const answer = await fx.call('GET', path, globexToken);
        expect(answer.status).toBe(403);
        expect(answer.json['code']).toBe('TIQ_ERR_NOT_AUTHORIZED');
      }
      fx.config = parseConfig({ ...GATEWAY_CONFIG, tenants: { acme: GATEWAY_CONFIG.tenants['acme'] } });
      expect((await fx.call('GET', '/v1/tenants/globex/apps', globexToken)).status).toBe(403);
      expect((await fx.call('GET', '/v1/tenants', operatorToken)).status).toBe(200);
      // A certificate of the acme app is unaffected by globex's removal.
      expect((await fx.call('GET', '/v1/tenants/acme/apps', app)).status).toBe(200);
    } finally {
      fx.config = saved;
    }
    expect((await fx.call('GET', '/v1/tenants/globex/apps', globexToken)).status).toBe(200);
  });
});
