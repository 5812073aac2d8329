/**
 * Rate limits, tenant quotas, connection limits, flapping and the per-client
 * pending-publish bound, each on a real gateway with small limits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordWriter } from '../../src/pipeline/context.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { connect, sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { publishPacket, RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';
import { closedWithin, goodDevice, goodDeviceFlows, refusalCounted } from './abuse-helpers.ts';

const pki = new TestPki();
const loc = (id: string) => `tenants/acme/devices/${id}/location`;
const pipelined = (id: string, n: number) => Array.from({ length: n }, (_, i) => publishPacket(loc(id), encode(VEHICLE, vehicle()), i + 1));
let running: Awaited<ReturnType<typeof startGateway>> | undefined;
afterEach(async () => { await running?.gateway.close(); running = undefined; });

async function start(overrides: Record<string, unknown>, components = {}) {
  running = await startGateway(pki, overrides, components);
  return running;
}

describe('publish rate and quotas', () => {
  it('slow: a device over its rate is paced, every message acknowledged in order, none lost', async () => {
    const gw = await start({ limits: { overLimit: 'slow', tenantDefaults: { devicePublishesPerSecond: 20, devicePublishBurst: 5 } } });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'fast-1'));
    expect(await raw.connectAs('fast-1')).toBe(0);
    const t0 = Date.now();
    raw.send(...pipelined('fast-1', 25));
    expect(await raw.waitFor(() => raw.pubacks().length === 25, 10_000)).toBe(true);
    // 5 at once, then 20 at 20/s: about a second
    expect(Date.now() - t0).toBeGreaterThan(800);
    expect(raw.pubacks()).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    // The 20 past the burst wait for tokens. The pipelined PUBLISHes are read over some time on a busy machine,
    // and a token refilled meanwhile (one per 50 ms) lets one through unpaced; the elapsed time above is the pacing.
    expect(await gw.gateway.stats.throttledCount()).toBeGreaterThanOrEqual(15);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'fast-1' })).toBe(25);
    raw.end();
  });

  it('slow beyond maxSlowDelayMs disconnects with TIQ_ERR_RATE_LIMITED, unacknowledged messages are not stored', async () => {
    const gw = await start({ limits: { overLimit: 'slow', maxSlowDelayMs: 200, tenantDefaults: { devicePublishesPerSecond: 10, devicePublishBurst: 2 } } });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'fast-2'));
    expect(await raw.connectAs('fast-2')).toBe(0);
    raw.send(...pipelined('fast-2', 20));
    expect(await closedWithin(raw, 3000)).toBe(true);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_RATE_LIMITED')).toBeGreaterThan(0);
    await sleep(200);
    const stored = await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'fast-2' });
    expect(stored).toBeGreaterThanOrEqual(raw.pubacks().length);
    expect(stored).toBeLessThan(20);
  });

  it('disconnect: a tenant over its message quota is cut off with TIQ_ERR_QUOTA; another tenant flows', async () => {
    const gw = await start({
      limits: { overLimit: 'disconnect' },
      tenants: { acme: { quotas: { messagesPerSecond: 1, messageBurst: 3 } }, globex: {} },
    });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'q-1'));
    expect(await raw.connectAs('q-1')).toBe(0);
    raw.send(...pipelined('q-1', 10));
    expect(await closedWithin(raw, 3000)).toBe(true);
    expect(await refusalCounted(gw.gateway, 'TIQ_ERR_QUOTA', 0)).toBe(true);
    expect(raw.pubacks()).toEqual([1, 2, 3]);
    const other = await connect(gw.port, pki.device('globex', 'g-1'), { clientId: 'g-1' });
    await other.publishAsync('tenants/globex/devices/g-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    other.end(true);
  });

  it('disconnect: a tenant over its byte quota is cut off with TIQ_ERR_QUOTA', async () => {
    const gw = await start({ limits: { overLimit: 'disconnect' }, tenants: { acme: { quotas: { bytesPerSecond: 100, byteBurst: 200 } } } });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'b-1'));
    expect(await raw.connectAs('b-1')).toBe(0);
    raw.send(...pipelined('b-1', 10));
    expect(await closedWithin(raw, 3000)).toBe(true);
    expect(gw.logs.events('publish_refused').some((l) => l['code'] === 'TIQ_ERR_QUOTA' && (l['detail'] as Record<string, unknown>)['limit'] === 'bytesPerSecond')).toBe(true);
  });
});

describe('connections', () => {
  it('per tenant: past maxConnections the next identity gets CONNACK 3 (TIQ_ERR_CONNECTION_LIMIT); a closed one frees its place', async () => {
    const gw = await start({ tenants: { acme: { quotas: { maxConnections: 2 } } } });
    const a = await goodDevice(gw.port, pki, 'c-1');
    const b = await goodDevice(gw.port, pki, 'c-2');
    await expect(goodDevice(gw.port, pki, 'c-3')).rejects.toThrow(/Server unavailable/);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_CONNECTION_LIMIT')).toBe(1);
    a.end(true);
    await sleep(200);
    const c = await goodDevice(gw.port, pki, 'c-3');
    await goodDeviceFlows(c);
    for (const x of [b, c]) x.end(true);
  });

  it('per source address: past the limit the TCP connection is closed before TLS', async () => {
    const gw = await start({ limits: { connections: { perAddress: 2 } } });
    const a = await goodDevice(gw.port, pki, 'a-1');
    const b = await goodDevice(gw.port, pki, 'a-2');
    await expect(goodDevice(gw.port, pki, 'a-3')).rejects.toThrow();
    expect(gw.logs.events('tls_refused').filter((l) => l['code'] === 'TIQ_ERR_CONNECTION_LIMIT')).toHaveLength(1);
    expect(gw.logs.events('tls_refused').filter((l) => l['code'] === 'TIQ_ERR_TLS_HANDSHAKE')).toHaveLength(0);
    await goodDeviceFlows(a);
    for (const x of [a, b]) x.end(true);
  });

  it('flapping: more than maxConnects in the window is refused for a back-off that doubles on repeat', async () => {
    const gw = await start({ limits: { flapping: { maxConnects: 3, windowMs: 10_000, backoffMs: 400, maxBackoffMs: 5000 } } });
    const pem = pki.device('acme', 'flappy');
    const once = async () => (await connect(gw.port, pem, { clientId: 'flappy' })).end(true);
    for (let i = 0; i < 3; i++) await once();
    await expect(once()).rejects.toThrow(/Server unavailable/);
    await expect(once()).rejects.toThrow(/Server unavailable/); // still in back-off, not counted
    await sleep(450);
    for (let i = 0; i < 3; i++) await once();
    await expect(once()).rejects.toThrow(/Server unavailable/);
    const second = gw.logs.events('connect_refused').filter((l) => l['code'] === 'TIQ_ERR_FLAPPING').at(-1)!;
    expect(second['offences']).toBe(2);
    expect(second['retryAfterMs']).toBe(800);
    await sleep(450);
    await expect(once()).rejects.toThrow(/Server unavailable/); // 800 ms this time
    // another device is not affected
    const other = await goodDevice(gw.port, pki, 'steady');
    await goodDeviceFlows(other);
    other.end(true);
  });
});

/** Holds every commit until released, counting how many are in flight at once. */
class HeldWriter implements RecordWriter {
  inFlight = 0;
  maxInFlight = 0;
  write(_r: SealedRecord): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((r) => setTimeout(() => { this.inFlight--; r(); }, 30));
  }
}
const passThroughSealer = { seal: (i: { plaintext: Buffer }) => ({ formatVersion: 1, dekId: 't', kekRef: 't', iv: Buffer.alloc(12), ciphertext: i.plaintext, tag: Buffer.alloc(16) }) };

describe('pending publishes per client', () => {
  it('at most maxPendingPublishes run at once; the rest wait, PUBACKs stay in order', async () => {
    const writer = new HeldWriter();
    const gw = await start({ limits: { maxPendingPublishes: 4, maxQueuedPublishes: 100 } }, { writer, sealer: passThroughSealer });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'p-1'));
    expect(await raw.connectAs('p-1')).toBe(0);
    raw.send(...pipelined('p-1', 40));
    expect(await raw.waitFor(() => raw.pubacks().length === 40, 10_000)).toBe(true);
    expect(raw.pubacks()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(writer.maxInFlight).toBeLessThanOrEqual(4);
    raw.end();
  });

  it('beyond maxQueuedPublishes the client is disconnected with TIQ_ERR_TOO_MANY_PENDING', async () => {
    const writer = new HeldWriter();
    const gw = await start({ limits: { maxPendingPublishes: 2, maxQueuedPublishes: 4 } }, { writer, sealer: passThroughSealer });
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'p-2'));
    expect(await raw.connectAs('p-2')).toBe(0);
    raw.send(...pipelined('p-2', 40));
    expect(await closedWithin(raw, 3000)).toBe(true);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_TOO_MANY_PENDING')).toBeGreaterThan(0);
  });
});
