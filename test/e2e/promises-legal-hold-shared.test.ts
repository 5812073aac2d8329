/**
 * A legal hold binds erasure "through the API and from the CLI, with or
 * without a running gateway", and "a running gateway applies a hold changed
 * by any process at once" (docs/storage.md, "Legal hold"). The adversary
 * asks for the erasure after another process (another gateway sharing the
 * control store, an offline command) committed the hold but before this
 * gateway's feed brought it: the erasure and the shred must be refused, never
 * race past the hold.
 *
 * The feed of a SQLite control store notices foreign commits on a 100 ms
 * watch; whether a request lands inside that window is luck (a commit's fsync
 * alone may outlast it). So the gateway starts with its interval timers held
 * still: its feed never applies the other process's commits by itself, which
 * is the lagging feed the promise is about, made certain. Real gateway,
 * mutual TLS, a second real connection to its control store.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ControlStore } from '../../src/control/control-store.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { holdKey } from '../../src/control/retention-state.ts';
import { adminCall } from '../helpers/admin-call.ts';
import { connect, sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('a hold committed by another process binds the next erasure before the feed brings it', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let op: ClientPem;
  /** Another process's connection to the same control store. */
  let other: ControlStore | undefined;
  const records = (deviceId: string) => gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId });
  const api = async (path: string) => {
    const r = await adminCall(gw.gateway.adminPorts.mtlsPort, op, 'POST', path);
    return [r.status, r.status === 200 ? undefined : r.json()['code']];
  };
  /**
   * Until this gateway has no write of its own in flight: each admin call's
   * audit entry is on disk before its answer, but the chain's head is
   * recorded in the control store after it, and that write reads the store's
   * newest commits, so it would bring the hold along. Settled: the stored
   * head is the log's last entry, and the gateway has applied every commit.
   */
  const settled = () => vi.waitFor(async () => {
    await other!.catchUp();
    const logged = (await gw.gateway.admin!.audit.query({ limit: 100_000 })).at(-1)?.seq ?? 0;
    const recorded = Math.max(0, ...[...other!.entries('audit-head').values()].map((h) => h.seq));
    expect([recorded, gw.gateway.control.version]).toEqual([logged, other!.version]);
  }, { timeout: 10_000, interval: 50 });
  /** Commits the hold from the other connection, the gateway settled first. */
  const hold = async (deviceId: string) => {
    await settled();
    await other!.put('legal-hold', holdKey('acme', deviceId), { tenantId: 'acme', deviceId, held: true, changedAtMs: Date.now() }, 'operator:elsewhere');
  };

  beforeAll(async () => {
    // Only interval timers are held, and only those made while the gateway starts (its control-store watch among them).
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      gw = await startGateway(pki);
    } finally {
      vi.useRealTimers();
    }
    op = pki.operator('alice');
    other = await openControlStore(gw.gateway.config.controlStore, gw.gateway.path(gw.gateway.config.dataDir));
    for (const id of ['truck-1', 'truck-2', 'truck-3', 'truck-4']) {
      const device: MqttClient = await connect(gw.port, pki.device('acme', id), { clientId: id });
      await device.publishAsync(`tenants/acme/devices/${id}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
      await device.endAsync();
    }
  });
  afterAll(async () => {
    await other?.close();
    await gw?.gateway.close();
  });

  it('erasure of a device held elsewhere: 409, records kept', async () => {
    await hold('truck-1');
    await sleep(300); // three watch periods: a running watch would have brought the hold by now
    expect(gw.gateway.retention.policy.isHeld('acme', 'truck-1')).toBe(false); // the feed has not brought it
    expect(await api('/v1/tenants/acme/devices/truck-1/erasure')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await records('truck-1')).toBe(1);
  });

  it('a device not held is erased as before (the refusals above are the hold\'s, not the route\'s)', async () => {
    expect(await api('/v1/tenants/acme/devices/truck-4/erasure')).toEqual([200, undefined]);
    expect(await records('truck-4')).toBe(0);
  });

  it('shred and erasure after a tenant-wide hold committed elsewhere: 409, records kept', async () => {
    await hold('');
    await sleep(300);
    expect(gw.gateway.retention.policy.isHeld('acme', 'truck-2')).toBe(false);
    expect(await api('/v1/tenants/acme/devices/truck-2/keys/shred')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await api('/v1/tenants/acme/devices/truck-3/erasure')).toEqual([409, 'TIQ_ERR_LEGAL_HOLD']);
    expect(await records('truck-2')).toBe(1);
    expect(await records('truck-3')).toBe(1);
  });
});
