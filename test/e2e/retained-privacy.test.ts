/**
 * Retained messages follow privacy over real mutual TLS: after erasure,
 * restriction, objection or a policy change, a new subscriber does not get
 * the device's retained position made under the old state.
 */
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/gateway.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { decode, VEHICLE } from '../helpers/telemetry.ts';

describe('retained messages under privacy', () => {
  const rig = useSubscriberRig({ filter: null });
  const { pki } = rig;
  const op = pki.operator('alice');
  const api = async (method: string, path: string, body?: unknown) => (await adminCall(rig.gw.gateway.adminPorts.mtlsPort, op, method, path, body)).status;
  const publishRetained = (device: string) => rig.publishRetained(device, { latitude: 48.8583701, longitude: 2.2944813 });

  it('a retained position reaches a new subscriber while nothing has changed', async () => {
    await publishRetained('truck-1');
    const got = await rig.retainedFor('truck-1');
    expect(got).toHaveLength(1);
    expect(decode(VEHICLE, got[0]!)['latitude']).toBeCloseTo(48.8583701, 6);
  });

  it('erasure removes the device\'s retained message', async () => {
    await publishRetained('truck-2');
    expect(await rig.retainedFor('truck-2')).toHaveLength(1);
    expect(await api('POST', '/v1/tenants/acme/devices/truck-2/erasure', {})).toBe(200);
    expect(await rig.retainedFor('truck-2')).toHaveLength(0);
    expect(rig.gw.gateway.retained.size).toBe(1);
  });

  it('a restriction stops the retained message; it is removed, not kept for later', async () => {
    await publishRetained('truck-3');
    expect(await api('PUT', '/v1/tenants/acme/devices/truck-3/restriction', { mode: 'refuse', reason: 'Art. 18 request' })).toBe(200);
    await sleep(600);
    expect(await rig.retainedFor('truck-3')).toHaveLength(0);
  });

  it('an objection stops the retained message', async () => {
    await publishRetained('truck-4');
    expect(await api('POST', '/v1/tenants/acme/devices/truck-4/objections', { purpose: 'analytics', reason: 'Art. 21' })).toBe(201);
    expect(await rig.retainedFor('truck-4')).toHaveLength(0);
  });

  it('a policy change stops retained messages made under the old policy; new ones carry the new policy', async () => {
    await publishRetained('truck-5');
    expect(await rig.retainedFor('truck-5')).toHaveLength(1);
    expect(await api('PUT', '/v1/tenants/acme/privacy-policy', { policy: { policyId: 'strict', version: 2, defaults: { '*': { action: 'strip' } } } })).toBe(200);
    expect(await rig.retainedFor('truck-5')).toHaveLength(0);
    expect(await rig.retainedFor('truck-1')).toHaveLength(0);
    await publishRetained('truck-5');
    const got = await rig.retainedFor('truck-5');
    expect(got).toHaveLength(1);
    const body = decode(VEHICLE, got[0]!);
    expect(body['latitude']).toBeUndefined();
    expect(body['appliedPolicy']).toMatchObject({ policyId: 'strict', version: 2, locationAction: 'strip' });
  });
});
