/**
 * A tenant on AWS KMS through the whole gateway (the real SDK against a local
 * endpoint speaking the KMS JSON protocol): one GenerateDataKey per device
 * KEK, none per message or data key; while KMS is down a message whose device has no
 * cached key is not acknowledged and nothing is stored; it goes through once
 * KMS returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { FakeKms } from '../helpers/fake-kms.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('tenant on aws-kms', () => {
  const pki = new TestPki();
  let kms: FakeKms;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const topic = (d: string) => `tenants/globex/devices/${d}/location`;

  beforeAll(async () => {
    kms = await new FakeKms().start();
    kms.createKey('globex');
    // The SDK's default credential chain; the local endpoint checks nothing but the protocol.
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDTEST';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'test-secret';
    gw = await startGateway(pki, {
      keys: { awsKms: { endpoint: kms.endpoint, retryBudgetMs: 300, retryBaseMs: 5 } },
      tenants: { ...TEST_TENANTS, globex: { ...TEST_TENANTS.globex, keys: { provider: 'aws-kms', kmsKeyId: 'alias/globex' } } },
    });
  });
  afterAll(async () => {
    await gw?.gateway.close();
    await kms?.close();
  });

  it('calls GenerateDataKey once per device key, never per message', async () => {
    const device = await connect(gw.port, pki.device('globex', 'van-1'), { clientId: 'van-1' });
    for (let i = 0; i < 25; i++) await device.publishAsync(topic('van-1'), encode(VEHICLE, vehicle()), { qos: 1 });
    device.end(true);
    expect(kms.count('GenerateDataKey')).toBe(1);
    expect(await gw.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex' })).toBe(25);
    const [record] = await gw.gateway.storage.sinkFor('globex').queryRecords({ tenantId: 'globex', limit: 1 });
    // The record's data key is under the device's KEK, which KMS made and wraps.
    expect(record!.kekRef).toBe('device:globex:van-1:1');
    expect((await gw.gateway.keys.deviceKeks.vault.get('globex', 'van-1'))?.tenantKekRef).toMatch(/^aws-kms:arn:aws:kms:/);
  });

  it('during a KMS outage: no PUBACK, nothing stored, a refusal counted; after it, the resend is stored', async () => {
    kms.outage = 'unavailable';
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_KEY_UNAVAILABLE');
    const device = await connect(gw.port, pki.device('globex', 'van-2'), { clientId: 'van-2', clean: false });
    let acked = false;
    const closed = new Promise<void>((r) => device.once('close', () => r()));
    device.publish(topic('van-2'), encode(VEHICLE, vehicle({ sequence: 1 })), { qos: 1 }, (err) => { if (!err) acked = true; });
    await closed; // a retryable refusal closes the connection without PUBACK
    expect(acked).toBe(false);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_KEY_UNAVAILABLE')).toBe(before + 1);
    expect(await gw.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex', deviceId: 'van-2' })).toBe(0);
    device.end(true);

    kms.outage = undefined;
    const again = await connect(gw.port, pki.device('globex', 'van-2'), { clientId: 'van-2' });
    await again.publishAsync(topic('van-2'), encode(VEHICLE, vehicle({ sequence: 1 })), { qos: 1 });
    again.end(true);
    expect(await gw.gateway.storage.sinkFor('globex').countRecords({ tenantId: 'globex', deviceId: 'van-2' })).toBe(1);
  });
});
