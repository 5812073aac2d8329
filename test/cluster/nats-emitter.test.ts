/**
 * The NATS emitter against a real nats-server: local delivery first, then
 * the other nodes; subscriptions only for tenants with local subscribers;
 * nothing echoed; a bounded hold while NATS is away, with what was dropped
 * counted; foreign bytes refused.
 */
import { randomBytes } from 'node:crypto';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsEmitter, type EmittedPacket } from '../../src/cluster/nats-emitter.ts';
import { createLogger } from '../../src/log.ts';
import { LogCapture, sleep } from '../helpers/gateway.ts';
import { NatsServer } from '../helpers/nats-server.ts';

type Listener = (p: EmittedPacket, done: () => void) => void;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) await sleep(25);
  return check();
}

function packet(topic: string, n: number, extra: Partial<EmittedPacket> = {}): EmittedPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(`m${n}`), qos: 1, retain: false, dup: false, brokerId: 'broker-a', brokerCounter: n, ...extra };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function collector() {
  const got: EmittedPacket[] = [];
  const fn: Listener = (p, done) => { got.push(p); done(); };
  return { got, fn };
}

describe('NATS emitter', () => {
  let nats: NatsServer;
  const emitters: NatsEmitter[] = [];
  let raw: NatsConnection;
  const rawSeen: string[] = [];
  const logs = new LogCapture();

  function emitter(name: string, extra: Partial<ConstructorParameters<typeof NatsEmitter>[0]> = {}) {
    const registry = new Registry();
    const e = new NatsEmitter({
      servers: [nats.url], name, subjectPrefix: 'tiq', maxPendingMessages: 100, registry, reconnectWaitMs: 100,
      log: createLogger('debug', logs), ...extra,
    });
    emitters.push(e);
    return { e, registry };
  }

  beforeAll(async () => {
    nats = await NatsServer.start();
    raw = await natsConnect({ servers: nats.url, name: 'raw', maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    raw.subscribe('>', { callback: (_e, m) => rawSeen.push(m.subject) });
  });
  afterAll(async () => {
    for (const e of emitters) await new Promise<void>((r) => e.close(r));
    await raw?.close();
    await nats?.kill();
  });

  it('delivers locally first, then to other nodes with the packet as it was (retain cleared), never echoed', async () => {
    const { e: a } = emitter('a');
    const { e: b, registry: rb } = emitter('b');
    const localA = collector();
    const remoteB = collector();
    a.on('tenants/acme/#', localA.fn);
    b.on('tenants/acme/devices/+/location', remoteB.fn);
    expect(await until(() => a.connected && b.connected)).toBe(true);
    expect(await until(async () => (await nats.subscriptions()).get('b')?.includes('tiq.acme.>') ?? false)).toBe(true);
    const props = { userProperties: { 'tiq-policy-id': 'coarse', 'tiq-policy-version': '2' }, messageExpiryInterval: 60 };
    const sent = packet('tenants/acme/devices/t1/location', 7, { retain: true, properties: props, messageExpiry: 1_900_000_000_000 });
    let acked = false;
    a.emit(sent, () => { acked = true; });
    expect(await until(() => remoteB.got.length === 1)).toBe(true);
    expect(acked).toBe(true);
    expect(localA.got).toEqual([sent]);
    const got = remoteB.got[0]!;
    expect({ topic: got.topic, payload: got.payload.toString(), qos: got.qos, retain: got.retain, brokerId: got.brokerId, brokerCounter: got.brokerCounter, messageExpiry: got.messageExpiry })
      .toEqual({ topic: sent.topic, payload: 'm7', qos: 1, retain: false, brokerId: 'broker-a', brokerCounter: 7, messageExpiry: 1_900_000_000_000 });
    expect(got.properties).toEqual(props);
    expect(await metric(rb, 'thingiq_bus_received_total')).toBe(1);
    // A's own message did not come back to A over NATS (noEcho).
    await sleep(200);
    expect(localA.got).toHaveLength(1);
  });

  it('subscribes to a tenant only while it has a local subscriber of that tenant', async () => {
    const { e: c, registry } = emitter('c');
    expect(await until(() => c.connected)).toBe(true);
    const subsOfC = async () => (await nats.subscriptions()).get('c') ?? [];
    expect(await until(async () => (await subsOfC()).includes('tiq._ctl.>'))).toBe(true);
    expect((await subsOfC()).filter((s) => s !== 'tiq._ctl.>')).toEqual([]);
    const one = collector();
    const two = collector();
    c.on('tenants/globex/#', one.fn);
    c.on('tenants/globex/devices/+/sensor', two.fn);
    c.on('$SYS/+/heartbeat', one.fn);
    expect(await until(async () => (await subsOfC()).includes('tiq.globex.>'))).toBe(true);
    expect(await metric(registry, 'thingiq_bus_tenant_subscriptions')).toBe(1);
    c.removeListener('tenants/globex/#', one.fn);
    await sleep(300);
    expect(await subsOfC()).toContain('tiq.globex.>');
    // Removing what was never added changes nothing.
    c.removeListener('tenants/globex/#', one.fn);
    c.removeListener('tenants/globex/devices/+/sensor', two.fn);
    expect(await until(async () => !(await subsOfC()).includes('tiq.globex.>'))).toBe(true);
    expect(c.tenants()).toEqual([]);
  });

  it('keeps on its node what may not leave and what has no subject', async () => {
    const { e: d } = emitter('d', { mayLeave: (p) => p.payload.length > 0 });
    expect(await until(() => d.connected)).toBe(true);
    rawSeen.length = 0;
    d.emit(packet('tenants/acme/devices/t1/location', 1, { payload: Buffer.alloc(0) }));
    d.emit(packet('tenants/acme/devices/t1/control/private-mode', 2));
    d.emit(packet('$SYS/x/heartbeat', 3));
    d.emit(packet('tenants/acme/devices/t1/sensor', 4));
    expect(await until(() => rawSeen.length >= 1)).toBe(true);
    await sleep(200);
    expect(rawSeen).toEqual(['tiq.acme.t1.sensor']);
  });

  it('holds messages while NATS is away, drops the oldest past the bound (counted), sends the rest in order once back', async () => {
    const { e: src, registry } = emitter('src', { maxPendingMessages: 3 });
    const { e: dst } = emitter('dst');
    const got = collector();
    dst.on('tenants/acme/#', got.fn);
    expect(await until(async () => src.connected && ((await nats.subscriptions()).get('dst')?.includes('tiq.acme.>') ?? false))).toBe(true);
    await nats.kill();
    expect(await until(() => !src.connected)).toBe(true);
    expect(await metric(registry, 'thingiq_bus_connected')).toBe(0);
    let acks = 0;
    for (let i = 1; i <= 10; i++) src.emit(packet(`tenants/acme/devices/t1/sensor`, i), () => { acks++; });
    expect(acks).toBe(10); // the local path never waits for the bus
    expect(await metric(registry, 'thingiq_bus_dropped_total', { reason: 'overflow' })).toBe(7);
    expect(await metric(registry, 'thingiq_bus_pending_messages')).toBe(3);
    // A takeover notice is never held: late, it could close a session that started after it.
    src.emit(packet('$SYS/broker-a/new/clients', 99, { payload: Buffer.from('acme/truck-1') }));
    expect(await metric(registry, 'thingiq_bus_dropped_total', { reason: 'outage' })).toBe(1);
    expect(await metric(registry, 'thingiq_bus_pending_messages')).toBe(3);
    await nats.restart();
    expect(await until(() => got.got.length >= 3, 10_000)).toBe(true);
    expect(got.got.map((p) => p.brokerCounter)).toEqual([8, 9, 10]);
    expect(await metric(registry, 'thingiq_bus_connected')).toBe(1);
    expect(await metric(registry, 'thingiq_bus_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(registry, 'thingiq_bus_pending_messages')).toBe(0);
    // Live again: the next one goes straight through.
    src.emit(packet('tenants/acme/devices/t1/sensor', 11));
    expect(await until(() => got.got.length === 4)).toBe(true);
  });

  it('starts without NATS: local delivery works at once, the bus connects when NATS appears', async () => {
    await nats.kill();
    const { e: late, registry } = emitter('late');
    const { e: peer } = emitter('peer');
    const here = collector();
    const there = collector();
    late.on('tenants/acme/#', here.fn);
    peer.on('tenants/acme/#', there.fn);
    late.emit(packet('tenants/acme/devices/t9/sensor', 1, { brokerId: 'late-broker' }));
    expect(here.got).toHaveLength(1);
    await sleep(400);
    expect(late.connected).toBe(false);
    expect(logs.events('bus_connect_failed').length).toBeGreaterThanOrEqual(1);
    await nats.restart();
    expect(await until(() => late.connected && peer.connected, 10_000)).toBe(true);
    // What was emitted before the first connection was held and goes out once the nodes are subscribed.
    expect(await until(() => there.got.length === 1, 5000)).toBe(true);
    expect(there.got[0]!.brokerId).toBe('late-broker');
    expect(await metric(registry, 'thingiq_bus_connected')).toBe(1);
  });

  it('refuses undecodable bytes and topics outside their subject, counted and logged, nothing delivered', async () => {
    const { e: f, registry } = emitter('f');
    const got = collector();
    f.on('tenants/acme/#', got.fn);
    f.on('tenants/globex/#', got.fn);
    expect(await until(async () => (await nats.subscriptions()).get('f')?.includes('tiq.acme.>') ?? false)).toBe(true);
    const { e: g } = emitter('g');
    expect(await until(() => g.connected)).toBe(true);
    raw.publish('tiq.acme.t1.sensor', Buffer.from('not a bus packet'));
    // A well-formed packet whose topic names another tenant than its subject.
    const { encodePacket } = await import('../../src/cluster/bus-codec.ts');
    raw.publish('tiq.acme.t1.sensor', encodePacket({ topic: 'tenants/globex/devices/t1/sensor', payload: Buffer.from('x'), qos: 1, retain: false, brokerId: 'z', brokerCounter: 1 }));
    expect(await until(async () => (await metric(registry, 'thingiq_bus_dropped_total', { reason: 'malformed' })) === 2)).toBe(true);
    expect(got.got).toEqual([]);
    expect(logs.events('bus_message_refused').length).toBeGreaterThanOrEqual(2);
  });
});

describe('NATS emitter with a token-protected server', () => {
  let nats: NatsServer;
  const emitters: NatsEmitter[] = [];
  const logs = new LogCapture();
  const token = randomBytes(16).toString('hex');

  beforeAll(async () => { nats = await NatsServer.start(['--auth', token]); });
  afterAll(async () => {
    for (const e of emitters) await new Promise<void>((r) => e.close(r));
    await nats?.kill();
  });

  function emitter(name: string, withToken: string | undefined) {
    const e = new NatsEmitter({
      servers: [nats.url], name, subjectPrefix: 'tiq', maxPendingMessages: 10, registry: new Registry(), reconnectWaitMs: 100,
      log: createLogger('debug', logs), token: withToken,
    });
    emitters.push(e);
    return e;
  }

  it('connects with the token; without it or with a wrong one it keeps trying, logs, and never throws', async () => {
    const good = emitter('good', token);
    const bad = emitter('bad', 'not-the-token');
    const none = emitter('none', undefined);
    expect(await until(() => good.connected)).toBe(true);
    await sleep(500);
    expect(bad.connected).toBe(false);
    expect(none.connected).toBe(false);
    const failures = logs.events('bus_connect_failed');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures.map((l) => l['code'])).toContain('AUTHORIZATION_VIOLATION');
    expect(logs.raw.join('\n')).not.toContain(token);
    // Local delivery is unaffected on the node that cannot reach NATS.
    const got: EmittedPacket[] = [];
    bad.on('tenants/acme/#', (p, done) => { got.push(p); done(); });
    bad.emit(packet('tenants/acme/devices/t1/sensor', 1));
    expect(got).toHaveLength(1);
  });
});
