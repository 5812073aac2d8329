/**
 * MQTT 5 devices (docs/mqtt5.md): every refusal is a reason code the device
 * can act on, on the connection it keeps; CONNACK announces the limits the
 * gateway enforces. Raw v5 packets (mqtt-packet), so every PUBACK is counted.
 */
import type mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TiqError } from '../../src/errors.ts';
import { sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { RawMqtt5 } from '../helpers/raw-mqtt5.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const pki = new TestPki();
const MAX_PACKET = 2048;
const gateways: Awaited<ReturnType<typeof startGateway>>[] = [];

/** One gateway at a time: they share the test PKI's data directory. */
async function start(overrides: Record<string, unknown> = {}, components = {}) {
  for (const running of gateways.splice(0)) await running.gateway.close();
  const gw = await startGateway(pki, { limits: { maxPacketBytes: MAX_PACKET }, ...overrides }, components);
  gateways.push(gw);
  return gw;
}

afterAll(async () => { for (const gw of gateways) await gw.gateway.close(); });

function publish(topic: string, payload: Buffer, messageId: number, extra: Partial<mqttPacket.IPublishPacket> = {}): mqttPacket.IPublishPacket {
  return { cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false, ...extra };
}

const loc = (deviceId: string) => `tenants/acme/devices/${deviceId}/location`;
const good = () => encode(VEHICLE, vehicle());

async function device(port: number, deviceId: string, tenant = 'acme'): Promise<RawMqtt5> {
  const raw = await RawMqtt5.open(port, pki.device(tenant, deviceId));
  const connack = await raw.connectAs(deviceId);
  expect(connack?.reasonCode).toBe(0);
  return raw;
}

const codesOf = (raw: RawMqtt5) => raw.pubacks().map((p) => [p.messageId, p.reasonCode ?? 0]);

describe('MQTT 5 device: CONNACK', () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await start({ limits: { maxPacketBytes: MAX_PACKET, maxQueuedPublishes: 100 }, mqtt: { maxSessionExpiryS: 600, topicAliasMaximum: 4 } }); });

  it('announces Maximum Packet Size, Receive Maximum, Topic Alias Maximum from the limits, and caps the session expiry', async () => {
    const raw = await RawMqtt5.open(gw.port, pki.device('acme', 'ca-1'));
    const connack = await raw.connectAs('ca-1', { sessionExpiryInterval: 86_400 });
    expect(connack?.reasonCode).toBe(0);
    expect(connack?.properties).toMatchObject({
      maximumPacketSize: MAX_PACKET + 5, receiveMaximum: 100, topicAliasMaximum: 4, sessionExpiryInterval: 600,
    });
    raw.end();
  });

  it('takes a topic alias within the maximum and disconnects one beyond it with 0x94', async () => {
    const raw = await device(gw.port, 'ca-2');
    raw.send(publish(loc('ca-2'), good(), 1, { properties: { topicAlias: 1 } }));
    raw.send(publish('', good(), 2, { properties: { topicAlias: 1 } }));
    expect(await raw.waitFor(() => raw.pubacks().length === 2)).toBe(true);
    expect(codesOf(raw)).toEqual([[1, 0], [2, 0]]);
    raw.send(publish(loc('ca-2'), good(), 3, { properties: { topicAlias: 5 } }));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()?.reasonCode).toBe(0x94);
    raw.end();
  });
});

describe('MQTT 5 device: reason-coded refusals', () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => { gw = await start({ mqtt: { maxRefusalsBeforeDisconnect: 5 } }); });

  it('another tenant\'s topic: PUBACK 0x87 with the code as reason string, and the device stays connected', async () => {
    const raw = await device(gw.port, 'rc-1');
    raw.send(publish('tenants/globex/devices/rc-1/location', good(), 1));
    expect(await raw.waitFor(() => raw.pubacks().length === 1)).toBe(true);
    expect(raw.pubacks()[0]).toMatchObject({ messageId: 1, reasonCode: 0x87, properties: { reasonString: 'TIQ_ERR_TOPIC_DENIED' } });
    raw.send(publish(loc('rc-1'), good(), 2));
    expect(await raw.waitFor(() => raw.pubacks().length === 2)).toBe(true);
    expect(codesOf(raw)).toEqual([[1, 0x87], [2, 0]]);
    expect(raw.closed).toBe(false);
    raw.end();
  });

  it('a refused PUBLISH sent with the CONNECT, before aedes has finished connecting, still gets its PUBACK 0x87', async () => {
    const raw = await RawMqtt5.open(gw.port, pki.device('acme', 'rc-0'));
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'rc-0', keepalive: 60 },
      publish('tenants/globex/devices/rc-0/location', good(), 1), publish(loc('rc-0'), good(), 2));
    expect(await raw.waitFor(() => raw.pubacks().length === 2)).toBe(true);
    expect(codesOf(raw)).toEqual([[1, 0x87], [2, 0]]);
    raw.end();
  });

  it('an undecodable payload: PUBACK 0x99; a stream the tenant lacks: 0x90; the device stays connected', async () => {
    const raw = await device(gw.port, 'rc-2');
    raw.send(publish(loc('rc-2'), Buffer.from([0xff, 0xff, 0xff, 0x01]), 1));
    raw.send(publish('tenants/acme/devices/rc-2/no-such-stream', good(), 2));
    raw.send(publish(loc('rc-2'), good(), 3));
    expect(await raw.waitFor(() => raw.pubacks().length === 3)).toBe(true);
    expect(codesOf(raw)).toEqual([[1, 0x99], [2, 0x90], [3, 0]]);
    expect(raw.closed).toBe(false);
    raw.end();
  });

  it('exactly one PUBACK per packet id, in PUBLISH order, for pipelined good and refused publishes', async () => {
    const raw = await device(gw.port, 'rc-3');
    const bad = Buffer.from([0xff, 0xff, 0xff, 0x01]);
    const packets = [1, 2, 3, 4, 5, 6, 7, 8].map((id) => (id % 4 === 0 ? publish('tenants/globex/devices/rc-3/location', good(), id)
      : id % 4 === 2 ? publish(loc('rc-3'), bad, id) : publish(loc('rc-3'), good(), id)));
    raw.send(...packets);
    expect(await raw.waitFor(() => raw.pubacks().length >= 8)).toBe(true);
    await sleep(500); // a second PUBACK for any id would arrive by now
    expect(codesOf(raw)).toEqual([[1, 0], [2, 0x99], [3, 0], [4, 0x87], [5, 0], [6, 0x99], [7, 0], [8, 0x87]]);
    raw.end();
  });

  it('the refusal limit still applies: the last refusal is a DISCONNECT with its reason code', async () => {
    const raw = await device(gw.port, 'rc-4');
    for (let id = 1; id <= 5; id++) raw.send(publish('tenants/globex/devices/rc-4/location', good(), id));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()).toMatchObject({ reasonCode: 0x87, properties: { reasonString: 'TIQ_ERR_TOPIC_DENIED' } });
    expect(codesOf(raw)).toEqual([[1, 0x87], [2, 0x87], [3, 0x87], [4, 0x87]]);
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
  });

  it('QoS 2: DISCONNECT 0x9B, nothing acknowledged', async () => {
    const raw = await device(gw.port, 'rc-5');
    raw.send(publish(loc('rc-5'), good(), 1, { qos: 2 }));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()?.reasonCode).toBe(0x9b);
    expect(raw.packets.filter((p) => p.cmd === 'pubrec' || p.cmd === 'puback')).toEqual([]);
  });

  it('an oversized packet: DISCONNECT 0x95, counted as TIQ_ERR_PACKET_TOO_LARGE', async () => {
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_PACKET_TOO_LARGE');
    const raw = await device(gw.port, 'rc-6');
    raw.send(publish(loc('rc-6'), Buffer.alloc(MAX_PACKET + 100), 1));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()?.reasonCode).toBe(0x95);
    expect(raw.pubacks()).toEqual([]);
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_PACKET_TOO_LARGE')).toBe(before + 1);
  });

  it('a DISCONNECT with a reason code and properties (MQTT 5 only) is a clean disconnect', async () => {
    const raw = await device(gw.port, 'rc-7');
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_MALFORMED_PACKET');
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { reasonString: 'bye' } });
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_MALFORMED_PACKET')).toBe(before);
  });
});

describe('MQTT 5 device: quota and retryable failures', () => {
  it('over the tenant quota: PUBACK 0x97, connection kept', async () => {
    const gw = await start({ limits: { maxPacketBytes: MAX_PACKET, overLimit: 'disconnect' }, mqtt: { maxRefusalsBeforeDisconnect: 10 }, tenants: { acme: { quotas: { messagesPerSecond: 1, messageBurst: 2 } } } });
    const raw = await device(gw.port, 'q-1');
    raw.send(publish(loc('q-1'), good(), 1), publish(loc('q-1'), good(), 2), publish(loc('q-1'), good(), 3));
    expect(await raw.waitFor(() => raw.pubacks().length === 3)).toBe(true);
    expect(codesOf(raw)).toEqual([[1, 0], [2, 0], [3, 0x97]]);
    expect(raw.pubacks()[2]?.properties?.reasonString).toBe('TIQ_ERR_QUOTA');
    expect(raw.closed).toBe(false);
    raw.end();
  });

  it('storage unavailable: no PUBACK, DISCONNECT 0x89 (server busy), so the device resends', async () => {
    const gw = await start({}, { writer: { write: () => Promise.reject(new TiqError('TIQ_ERR_STORE_UNAVAILABLE')) } });
    const raw = await device(gw.port, 's-1');
    raw.send(publish(loc('s-1'), good(), 1));
    expect(await raw.waitFor(() => raw.disconnect() !== undefined)).toBe(true);
    expect(raw.disconnect()).toMatchObject({ reasonCode: 0x89, properties: { reasonString: 'TIQ_ERR_STORE_UNAVAILABLE' } });
    expect(raw.pubacks()).toEqual([]);
  });
});

describe('server redirect', () => {
  it('refuses a v5 CONNECT with 0x9C and the Server Reference, a 3.1.1 one with return code 3', async () => {
    const gw = await start({ mqtt: { redirect: { serverReference: 'gw2.example.net:8883' } } });
    const raw = await RawMqtt5.open(gw.port, pki.device('acme', 'rd-1'));
    const connack = await raw.connectAs('rd-1');
    expect(connack).toMatchObject({ reasonCode: 0x9c, properties: { serverReference: 'gw2.example.net:8883' } });
    raw.end();
    const v3 = await RawMqtt.open(gw.port, pki.device('acme', 'rd-2'));
    expect(await v3.connectAs('rd-2')).toBe(3);
    v3.end();
  });
});
