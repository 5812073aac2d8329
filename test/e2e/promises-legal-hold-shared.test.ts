/**
 * A legal hold binds erasure "through the API and from the CLI, with or
 * without a running gateway", and "a running gateway applies a hold changed
 * by any process at once" (docs/storage.md, "Legal hold"). The adversary
 * asks for the erasure the instant after another process (another gateway
 * sharing the control store, an offline command) committed the hold: the
 * erasure and the shred must be refused, never race past the hold. Real
 * gateway, mutual TLS, a second real connection to its control store.
 */
import { Agent, request } from 'node:https';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlStore } from '../../src/control/control-store.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { holdKey } from '../../src/control/retention-state.ts';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('a hold committed by another process binds the very next erasure', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  /** Another process's connection to the same control store, open before the test starts. */
  let other: ControlStore | undefined;
  // One connection, handshake done before the hold: the erasure reaches the gateway within a millisecond or two of the commit.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const post = (path: string) => new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.gateway.adminPorts.mtlsPort, method: 'POST', path, agent, cert: op.cert, key: op.key, ca: op.ca, servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });

  beforeAll(async () => {
    gw = await startGateway(pki);
    op = pki.operator('alice');
    other = await openControlStore(gw.gateway.config.controlStore, gw.gateway.path(gw.gateway.config.dataDir));
    for (const id of ['truck-1', 'truck-2', 'truck-3']) {
      const device: MqttClient = await connect(gw.port, pki.device('acme', id), { clientId: id });
      await device.publishAsync(`tenants/acme/devices/${id}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
      await device.endAsync();
    }
  });
  afterAll(async () => {
    agent.destroy();
    await other?.close();
    await gw?.gateway.close();
  });

  const hold = async (deviceId: string) => {
    await other!.put('legal-hold', holdKey('acme', deviceId), { tenantId: 'acme', deviceId, held: true, changedAtMs: Date.now() }, 'operator:elsewhere');
  };
  const api = async (path: string) => {
    const r = await post(path);
    return [r.status, r.status === 200 ? undefined : (JSON.parse(r.text) as { code: string }).code];
  };

  it('the connection is open before any hold', async () => {
    expect((await post('/v1/tenants/acme/devices/nobody/objections')).status).toBe(400);
  });

  it('erasure right after a device hold committed elsewhere: 409, records kept', async () => {
    await hold('truck-1');
    expect(await api('/v1/tenants/acme/devices/truck-1/erasure')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'truck-1' })).toBe(1);
  });

  it('shred right after a tenant-wide hold committed elsewhere: 409', async () => {
    await hold('');
    expect(await api('/v1/tenants/acme/devices/truck-2/keys/shred')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await api('/v1/tenants/acme/devices/truck-3/erasure')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
  });
});
