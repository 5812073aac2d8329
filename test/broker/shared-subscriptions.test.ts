/**
 * Shared subscriptions within a tenant: three consumers of one group (mqtt.js
 * over mutual TLS, mqtt.js over WebSocket with a token, mosquitto_sub) split
 * the tenant's stream, each message delivered exactly once within the group,
 * while a plain subscriber gets every message and another tenant's app
 * cannot join.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connectWss, TestIssuer } from '../helpers/app-tokens.ts';
import { connect, sleep, startGateway, subackCode, subscribe } from '../helpers/gateway.ts';
import { mosquittoSub, sequenceOf, Sequencer, until } from '../helpers/shared-consumers.ts';
import { TestPki } from '../helpers/pki.ts';

const FILTER = 'tenants/acme/#';
const SHARED = `$share/workers/${FILTER}`;

describe('shared subscriptions $share/{group}/tenants/{tenant}/...', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  let mosquitto: ChildProcess;
  const mosquittoLines: string[] = [];
  const clients: MqttClient[] = [];
  /** Sequence numbers each consumer received. */
  const got: Record<'tls' | 'wss' | 'mosquitto' | 'plain', string[]> = { tls: [], wss: [], mosquitto: [], plain: [] };
  let tlsMember: MqttClient;
  /** QoS of every message the mqtt.js consumers received. */
  const qos = new Set<number>();

  const members = () => gw.gateway.sharedSubscriptions!.size('workers', FILTER);

  beforeAll(async () => {
    const issuer = await TestIssuer.create(pki.baseDir);
    gw = await startGateway(pki, { admin: { port: 0, mtlsPort: 0, oauth: issuer.oauth() }, websocket: { enabled: true, port: 0 } });
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1' });
    clients.push(device);

    tlsMember = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'worker-tls' });
    clients.push(tlsMember);
    const wssMember = await connectWss(gw.gateway.wsPorts.port, pki.caPem, { clientId: 'worker-wss', username: 'trucks-only', password: await issuer.sign({ roles: ['tenant-reader'], tenant: 'acme' }) });
    clients.push(wssMember);
    const plain = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'plain' });
    clients.push(plain);
    for (const [client, name] of [[tlsMember, 'tls'], [wssMember, 'wss'], [plain, 'plain']] as const) {
      client.on('message', (_topic, payload, packet) => {
        qos.add(packet.qos);
        got[name].push(sequenceOf(payload.toString()));
      });
    }
    expect((await tlsMember.subscribeAsync(SHARED, { qos: 1 }))[0]?.qos).toBe(1);
    expect((await wssMember.subscribeAsync(SHARED, { qos: 1 }))[0]?.qos).toBe(1);
    expect((await plain.subscribeAsync(FILTER, { qos: 1 }))[0]?.qos).toBe(1);

    mosquitto = mosquittoSub(gw.port, pki.app('acme', 'dashboard'), 'worker-mosquitto', 'mqttv311', SHARED, (line) => { mosquittoLines.push(line); got.mosquitto.push(sequenceOf(line)); });
    expect(await until(() => members() === 3)).toBe(true);
  });
  afterAll(async () => {
    mosquitto?.kill();
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  const sequencer = new Sequencer();
  const publish = (count: number) => sequencer.publish(device, count);

  const shared = () => [...got.tls, ...got.wss, ...got.mosquitto];

  it('spreads messages over all three members, each delivered exactly once within the group', async () => {
    const sent = await publish(30);
    expect(await until(() => shared().length >= 30 && got.plain.length >= 30)).toBe(true);
    await sleep(300);
    expect([...shared()].sort()).toEqual([...sent].sort());
    // Round robin over three connected members: ten each.
    expect([got.tls.length, got.wss.length, got.mosquitto.length]).toEqual([10, 10, 10]);
    expect([...qos]).toEqual([1]);
  });

  it('a plain subscriber of the same tenant still gets every message', () => {
    expect(got.plain).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1)));
  });

  it('another tenant\'s app cannot join the group, and its own group of that name sees nothing of acme', async () => {
    const globex = await connect(gw.port, pki.app('globex', 'dashboard'), { clientId: 'globex-worker' });
    clients.push(globex);
    expect(await subackCode(globex, SHARED)).toBe(0x80);
    expect(await subackCode(globex, '$share/workers/tenants/+/devices/#')).toBe(0x80);
    const own = await subscribe(globex, '$share/workers/tenants/globex/#');
    expect(own.granted).toBe(1);
    expect(members()).toBe(3);
    await publish(3);
    await until(() => got.plain.length >= 33);
    await sleep(300);
    expect(own.received).toEqual([]);
    expect(gw.logs.events('subscribe_refused').filter((l) => l['identity'] === 'app globex/dashboard').length).toBe(2);
  });

  it('a member that leaves re-spreads the stream over those that remain', async () => {
    const before = { tls: got.tls.length, wss: got.wss.length, mosquitto: got.mosquitto.length, total: shared().length };
    await tlsMember.unsubscribeAsync(SHARED);
    expect(await until(() => members() === 2)).toBe(true);
    const sent = await publish(10);
    expect(await until(() => shared().length >= before.total + 10)).toBe(true);
    await sleep(300);
    expect(got.tls.length).toBe(before.tls);
    const after = [...got.wss.slice(before.wss), ...got.mosquitto.slice(before.mosquitto)];
    expect(after.sort()).toEqual([...sent].sort());
    expect(got.wss.length - before.wss).toBe(5);
    expect(got.mosquitto.length - before.mosquitto).toBe(5);
  });

  it('a member that drops off is skipped too, and a disconnected group leaves nothing behind', async () => {
    mosquitto.kill();
    expect(await until(() => members() === 1)).toBe(true);
    const before = got.wss.length;
    const sent = await publish(4);
    expect(await until(() => got.wss.length >= before + 4)).toBe(true);
    expect(got.wss.slice(before)).toEqual(sent);
  });

  it('a persistent member keeps its place across a reconnect, and nothing is queued for it while away', async () => {
    const pem = pki.app('acme', 'dashboard');
    const opts = { clientId: 'worker-persistent', clean: false };
    const first = await connect(gw.port, pem, opts);
    expect((await first.subscribeAsync(SHARED, { qos: 1 }))[0]?.qos).toBe(1);
    expect(await until(() => members() === 2)).toBe(true);
    first.end(true);
    expect(await until(() => members() === 1)).toBe(true);
    const before = got.wss.length;
    const whileAway = await publish(2);
    expect(await until(() => got.wss.length >= before + 2)).toBe(true);
    expect(got.wss.slice(before)).toEqual(whileAway);
    const again = await connect(gw.port, pem, opts);
    clients.push(again);
    const received: string[] = [];
    again.on('message', (_t, payload) => received.push(sequenceOf(payload.toString())));
    // The session restores the subscription: the member is back in the group without subscribing again.
    expect(await until(() => members() === 2)).toBe(true);
    const sent = await publish(4);
    expect(await until(() => received.length >= 2)).toBe(true);
    await sleep(300);
    expect(received).toHaveLength(2);
    expect(received.every((r) => sent.includes(r))).toBe(true);
  });
});
