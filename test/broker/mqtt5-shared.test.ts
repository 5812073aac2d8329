/**
 * Shared subscriptions for MQTT 5 applications. aedes 2 refuses a v5
 * `$share/...` SUBSCRIBE with 0x9E before any hook; the gateway renames it as
 * the packet leaves the parser, so v5 members (mqtt.js and mosquitto_sub
 * -V mqttv5) join the same groups as 3.1.1 members: each message delivered
 * once within the group, a plain subscriber gets every one, another tenant's
 * app is refused with SUBACK 0x87, and an UNSUBSCRIBE leaves the group.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect, sleep, startGateway, subackCode } from '../helpers/gateway.ts';
import { mosquittoSub, sequenceOf, Sequencer, until } from '../helpers/shared-consumers.ts';
import { TestPki } from '../helpers/pki.ts';

const V5 = { protocolVersion: 5 } as const;
const FILTER = 'tenants/acme/#';
const SHARED = `$share/v5workers/${FILTER}`;

describe('MQTT 5 shared subscriptions', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: MqttClient;
  let mosquitto: ChildProcess;
  const clients: MqttClient[] = [];
  const got: Record<'a' | 'b' | 'mosquitto' | 'plain', string[]> = { a: [], b: [], mosquitto: [], plain: [] };
  let memberA: MqttClient;
  const members = () => gw.gateway.sharedSubscriptions!.size('v5workers', FILTER);
  const shared = () => [...got.a, ...got.b, ...got.mosquitto];

  beforeAll(async () => {
    gw = await startGateway(pki);
    device = await connect(gw.port, pki.device('acme', 'truck-1'), { clientId: 'truck-1', ...V5 });
    clients.push(device);
    memberA = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'v5-worker-a', ...V5 });
    const memberB = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'v5-worker-b', ...V5 });
    const plain = await connect(gw.port, pki.app('acme', 'dashboard'), { clientId: 'v5-plain', ...V5 });
    clients.push(memberA, memberB, plain);
    for (const [client, name] of [[memberA, 'a'], [memberB, 'b'], [plain, 'plain']] as const) {
      client.on('message', (_topic, payload) => got[name].push(sequenceOf(payload.toString())));
    }
    // Granted QoS 1, not 0x9E (shared subscriptions not supported).
    expect((await memberA.subscribeAsync(SHARED, { qos: 1 }))[0]?.qos).toBe(1);
    expect((await memberB.subscribeAsync(SHARED, { qos: 1 }))[0]?.qos).toBe(1);
    expect((await plain.subscribeAsync(FILTER, { qos: 1 }))[0]?.qos).toBe(1);

    mosquitto = mosquittoSub(gw.port, pki.app('acme', 'dashboard'), 'v5-worker-mosquitto', 'mqttv5', SHARED, (line) => got.mosquitto.push(sequenceOf(line)));
    expect(await until(() => members() === 3)).toBe(true);
  });
  afterAll(async () => {
    mosquitto?.kill();
    for (const c of clients) c.end(true);
    await gw?.gateway.close();
  });

  const sequencer = new Sequencer();
  const publish = (count: number) => sequencer.publish(device, count);

  it('spreads messages over three v5 members, each delivered once within the group; a plain v5 subscriber gets all', async () => {
    const sent = await publish(30);
    expect(await until(() => shared().length >= 30 && got.plain.length >= 30)).toBe(true);
    await sleep(300);
    expect([...shared()].sort()).toEqual([...sent].sort());
    expect([got.a.length, got.b.length, got.mosquitto.length]).toEqual([10, 10, 10]);
    expect(got.plain).toEqual(sent);
  });

  it('another tenant\'s v5 app is refused with SUBACK 0x87 and does not join', async () => {
    const globex = await connect(gw.port, pki.app('globex', 'dashboard'), { clientId: 'v5-globex', ...V5 });
    clients.push(globex);
    expect(await subackCode(globex, SHARED)).toBe(0x87);
    expect(await subackCode(globex, '$share/v5workers/tenants/+/devices/#')).toBe(0x87);
    expect(members()).toBe(3);
  });

  it('an UNSUBSCRIBE of the $share filter leaves the group and re-spreads the stream', async () => {
    const before = { a: got.a.length, total: shared().length };
    await memberA.unsubscribeAsync(SHARED);
    expect(await until(() => members() === 2)).toBe(true);
    const sent = await publish(10);
    expect(await until(() => shared().length >= before.total + 10)).toBe(true);
    await sleep(300);
    expect(got.a.length).toBe(before.a);
    expect([...got.b, ...got.mosquitto].filter((s) => sent.includes(s)).sort()).toEqual([...sent].sort());
  });
});
