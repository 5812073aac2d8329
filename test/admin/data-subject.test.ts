/** Data-subject requests: access, erasure with receipt then an export that shows nothing, restriction, objection, private mode. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TiqError } from '../../src/errors.ts';
import { RestrictionRegistry } from '../../src/admin/restriction-registry.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { AdminFixture, type Credentials } from './admin-fixture.ts';

const fx = new AdminFixture();
let admin: Credentials;
let op: Credentials;

beforeAll(async () => {
  await fx.start();
  admin = { token: await fx.token({ roles: ['tenant-admin'], tenant: 'acme' }) };
  op = fx.certificate({ kind: 'operator', operatorName: 'olga', uri: '' });
});
afterAll(() => fx.close());

describe('access and erasure', () => {
  it('exports the device\'s records as NDJSON, then erases with a receipt, then exports nothing', async () => {
    fx.records.add('acme', 'truck-1', { temperatureC: 21.5 });
    fx.records.add('acme', 'truck-1', { temperatureC: 22 });
    fx.records.add('acme', 'truck-2', { temperatureC: 5 });
    fx.keys.deks.set('acme/truck-1', ['dek-a', 'dek-b']);
    const before = await fx.call('GET', '/v1/tenants/acme/devices/truck-1/data', admin);
    expect(before.status).toBe(200);
    expect(before.headers['content-type']).toMatch(/application\/x-ndjson/);
    expect(before.text.trim().split('\n')).toHaveLength(2);

    const erasure = await fx.call('POST', '/v1/tenants/acme/devices/truck-1/erasure', admin);
    expect(erasure.status).toBe(200);
    expect(erasure.json).toMatchObject({ type: 'thingiq.admin.erasure-receipt', tenantId: 'acme', deviceId: 'truck-1', recordsDeleted: 2, recordsRemaining: 0, keysDestroyed: 2 });
    expect(erasure.json['auditSubject']).toBe(fx.deps.audit.pseudonyms.device('acme', 'truck-1'));

    const after = await fx.call('GET', '/v1/tenants/acme/devices/truck-1/data', admin);
    expect([after.status, after.text, after.headers['x-thingiq-record-count']]).toEqual([200, '', '0']);
    expect(await fx.records.countDevice('acme', 'truck-2')).toBe(1); // another device is untouched

    // The audit log names the subject only by pseudonym.
    const log = fx.deps.audit.query({ action: 'subjects.erasure' });
    expect(log.at(-1)).toMatchObject({ result: 'ok', target: `device:${erasure.json['auditSubject'] as string}` });
    expect(JSON.stringify(fx.deps.audit.query({ limit: 1000 }))).not.toContain('truck-1');
  });

  it('refuses erasure and shredding under a legal hold (409), and allows it after release', async () => {
    expect((await fx.call('PUT', '/v1/tenants/acme/legal-holds', op, { deviceId: 'truck-2', held: true })).status).toBe(200);
    const refused = await fx.call('POST', '/v1/tenants/acme/devices/truck-2/erasure', admin);
    expect([refused.status, refused.json['code']]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    const shred = await fx.call('POST', '/v1/tenants/acme/devices/truck-2/keys/shred', op);
    expect([shred.status, shred.json['code']]).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await fx.records.countDevice('acme', 'truck-2')).toBe(1);
    await fx.call('PUT', '/v1/tenants/acme/legal-holds', op, { deviceId: 'truck-2', held: false });
    expect((await fx.call('POST', '/v1/tenants/acme/devices/truck-2/erasure', admin)).status).toBe(200);
  });
});

describe('an access export that fails', () => {
  it('on its first record (keys shredded, records still stored) answers with the error code, and the API keeps serving', async () => {
    fx.records.add('acme', 'truck-7', { temperatureC: 3 });
    const spy = vi.spyOn(fx.records, 'exportDevice').mockRejectedValueOnce(new TiqError('TIQ_ERR_KEY_SHREDDED'));
    const refused = await fx.call('GET', '/v1/tenants/acme/devices/truck-7/data', admin);
    expect([refused.status, refused.json['code']]).toEqual([410, 'TIQ_ERR_KEY_SHREDDED']);
    spy.mockRestore();
    expect((await fx.call('GET', '/v1/tenants/acme/devices/truck-7/data', admin)).status).toBe(200);
  });

  it('part-way aborts the transfer (never a complete-looking 200) and the API keeps serving', async () => {
    const spy = vi.spyOn(fx.records, 'exportDevice').mockImplementationOnce(async (_t, _d, out) => {
      await new Promise<void>((resolve) => out.write('{"recordId":"r1"}\n', () => resolve()));
      throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE');
    });
    const cut = await fx.call('GET', '/v1/tenants/acme/devices/truck-7/data', admin).then(() => 'complete', () => 'aborted');
    expect(cut).toBe('aborted');
    spy.mockRestore();
    expect((await fx.call('GET', '/v1/tenants/acme/devices/truck-7/data', admin)).status).toBe(200);
  });
});

describe('restriction of processing', () => {
  it('sets drop and refuse, lifts with none, and the broker-facing registry answers at once', async () => {
    const url = '/v1/tenants/acme/devices/truck-3/restriction';
    expect(fx.deps.restrictions.isRestricted('acme', 'truck-3')).toBe('none');
    expect((await fx.call('PUT', url, admin, { mode: 'drop', reason: 'Art. 18(1)(a)' })).json).toEqual({ mode: 'drop', previous: 'none' });
    expect(fx.deps.restrictions.isRestricted('acme', 'truck-3')).toBe('drop');
    expect((await fx.call('PUT', url, admin, { mode: 'refuse' })).json).toEqual({ mode: 'refuse', previous: 'drop' });
    expect(fx.deps.restrictions.isRestricted('acme', 'truck-3')).toBe('refuse');
    expect(fx.deps.restrictions.isRestricted('globex', 'truck-3')).toBe('none');
    expect((await fx.call('GET', url, admin)).json).toMatchObject({ mode: 'refuse' });
    const bad = await fx.call('PUT', url, admin, { mode: 'sometimes' });
    expect([bad.status, bad.json['code']]).toEqual([400, 'TIQ_ERR_BAD_REQUEST']);
    await fx.call('PUT', url, admin, { mode: 'none' });
    expect(fx.deps.restrictions.isRestricted('acme', 'truck-3')).toBe('none');
  });

  it('persists in the control store across restarts and sees another connection\'s change through the feed', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'thingiq-restrict-')), 'control.db');
    const storeA = await SqliteControlStore.open({ path });
    const a = new RestrictionRegistry(storeA);
    await a.set('acme', 'truck-1', 'refuse', 'cli:root');
    const storeB = await SqliteControlStore.open({ path });
    const b = new RestrictionRegistry(storeB);
    expect(b.isRestricted('acme', 'truck-1')).toBe('refuse');
    await a.set('acme', 'truck-1', 'drop', 'cli:root');
    await a.set('acme', 'truck-2', 'refuse', 'cli:root');
    await vi.waitFor(() => expect([b.isRestricted('acme', 'truck-1'), b.isRestricted('acme', 'truck-2')]).toEqual(['drop', 'refuse']), { timeout: 1000, interval: 20 });
    expect(b.list('acme').map((r) => r.deviceId).sort()).toEqual(['truck-1', 'truck-2']);
    await storeA.close();
    await storeB.close();
  });
});

describe('objection and private mode', () => {
  it('records an objection to a purpose', async () => {
    const url = '/v1/tenants/acme/devices/truck-4/objections';
    expect((await fx.call('POST', url, admin, { purpose: 'marketing', reason: 'no' })).status).toBe(201);
    expect((await fx.call('GET', url, admin)).json['objections']).toEqual([expect.objectContaining({ purpose: 'marketing' })]);
    expect(fx.deps.objections.objected('acme', 'truck-4', 'marketing')).toBe(true);
    expect(fx.deps.objections.objected('acme', 'truck-4', 'analytics')).toBe(false);
  });

  it('switches private mode through the registry with source api', async () => {
    const url = '/v1/tenants/acme/devices/truck-5/private-mode';
    expect((await fx.call('PUT', url, admin, { on: true })).json).toEqual({ on: true, changed: true });
    expect(fx.deps.privateMode.isOn('acme', 'truck-5')).toBe(true);
    expect((await fx.call('GET', url, admin)).json).toEqual({ on: true });
  });

  it('validates and previews a policy without storing anything', async () => {
    const invalid = await fx.call('POST', '/v1/tenants/acme/privacy-policy/validate', admin, { policy: { policyId: 'x', version: 1, defaults: {} } });
    expect(invalid.json['valid']).toBe(false);
    const preview = await fx.call('POST', '/v1/tenants/acme/privacy-policy/preview', admin, {
      deviceId: 'truck-1', policy: { policyId: 'strip-all', version: 1, defaults: { '*': { action: 'strip' } } },
      points: [{ latitude: 52.52, longitude: 13.405, speedMps: 3, timeUnixMs: 1717578000000 }],
    });
    expect(preview.status).toBe(200);
    const row = (preview.json['rows'] as { after: Record<string, unknown> }[])[0]!;
    expect(row.after['latitude']).toBeUndefined();
  });
});
