/**
 * The README's promise to device makers about QoS 1 (README, "What a message
 * goes through"): a message is stored once however often it is resent,
 * because a redelivery is recognised by its sequence number and a keyed
 * digest of its bytes, while a device that restarts its counter at 1 loses
 * nothing. Tried as a device would break it: resends pipelined before the
 * first PUBACK, a counter restarted over a reconnect, two devices sending
 * byte-identical messages. Real mutual TLS, mqtt.js, SQLite, port 0.
 */
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/gateway.ts';
import { publishPacket, RawMqtt } from '../helpers/raw-mqtt.ts';
import { useSubscriberRig } from '../helpers/gateway-rigs.ts';
import { decode, encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

describe('QoS 1: stored once, a restarted counter loses nothing', () => {
  const rig = useSubscriberRig({ filter: 'tenants/acme/devices/+/location' });
  const forwarded = (deviceId: string) => rig.received(`tenants/acme/devices/${deviceId}/location`);

  it('the same bytes sent three times before any PUBACK: all acknowledged, stored once, forwarded once', async () => {
    const dev = await rig.device('dup-1');
    const bytes = encode(VEHICLE, vehicle({ sequence: 7, tripId: 'dup-1' }));
    const topic = 'tenants/acme/devices/dup-1/location';
    await Promise.all([1, 2, 3].map(() => dev.publishAsync(topic, bytes, { qos: 1 })));
    await sleep(500);
    expect(dev.connected).toBe(true);
    expect(await rig.records('dup-1')).toBe(1);
    expect(forwarded('dup-1')).toHaveLength(1);
  });

  it('a counter restarted at 1 after a reconnect: every new message is stored and forwarded; a true resend is not', async () => {
    const topic = 'tenants/acme/devices/dup-2/location';
    const first = await rig.device('dup-2');
    const n = rig.sub.received.length;
    const before = [1, 2, 3].map((seq) => encode(VEHICLE, vehicle({ sequence: seq, tripId: `boot-1-${seq}` })));
    for (const b of before) await first.publishAsync(topic, b, { qos: 1 });
    first.end(true);
    const rebooted = await rig.device('dup-2');
    // Same sequence numbers, other content (another boot): new messages, pipelined.
    const after = [1, 2, 3].map((seq) => encode(VEHICLE, vehicle({ sequence: seq, tripId: `boot-2-${seq}` })));
    await Promise.all(after.map((b) => rebooted.publishAsync(topic, b, { qos: 1 })));
    // A resend of the first boot's message 2, as after a lost PUBACK.
    await rebooted.publishAsync(topic, before[1]!, { qos: 1, dup: true });
    await rig.sub.next(n + 6, 3000);
    await sleep(300); // room for a seventh, which must not come
    expect(await rig.records('dup-2')).toBe(6);
    const trips = forwarded('dup-2').map((m) => decode(VEHICLE, m.payload)['tripId']).sort();
    expect(trips).toEqual(['boot-1-1', 'boot-1-2', 'boot-1-3', 'boot-2-1', 'boot-2-2', 'boot-2-3']);
  });

  it('two devices sending byte-identical messages are two messages: neither is taken for the other\'s resend', async () => {
    const bytes = encode(VEHICLE, vehicle({ sequence: 11, tripId: 'twin' }));
    const [a, b] = [await rig.device('twin-a'), await rig.device('twin-b')];
    const n = rig.sub.received.length;
    await Promise.all([a.publishAsync('tenants/acme/devices/twin-a/location', bytes, { qos: 1 }), b.publishAsync('tenants/acme/devices/twin-b/location', bytes, { qos: 1 })]);
    await rig.sub.next(n + 2, 2000);
    expect(await rig.records('twin-a')).toBe(1);
    expect(await rig.records('twin-b')).toBe(1);
    expect(forwarded('twin-a')).toHaveLength(1);
    expect(forwarded('twin-b')).toHaveLength(1);
  });

  it('stored while its connection closes: not acknowledged, yet forwarded once; the resend is a duplicate', async () => {
    const topic = 'tenants/acme/devices/late-ack/location';
    const good = encode(VEHICLE, vehicle({ sequence: 5, tripId: 'late-ack' }));
    const poison = encode(VEHICLE, vehicle({ longitude: 200 }));
    const raw = await RawMqtt.open(rig.gw.port, rig.pki.device('acme', 'late-ack'));
    expect(await raw.connectAs('late-ack')).toBe(0);
    // The third refusal closes the connection; the good message behind it is stored but gets no PUBACK.
    raw.send(publishPacket(topic, poison, 1), publishPacket(topic, poison, 2), publishPacket(topic, poison, 3), publishPacket(topic, good, 4));
    expect(await raw.waitFor(() => false, 3000)).toBe(false);
    expect(raw.closed).toBe(true);
    expect(raw.pubacks()).not.toContain(4);
    await sleep(300);
    expect(await rig.records('late-ack')).toBe(1);
    expect(forwarded('late-ack').map((m) => decode(VEHICLE, m.payload)['tripId'])).toEqual(['late-ack']);
    // The device resends it, as it must without a PUBACK: acknowledged now, and not delivered a second time.
    const dev = await rig.device('late-ack');
    await dev.publishAsync(topic, good, { qos: 1, dup: true });
    await sleep(300);
    expect(await rig.records('late-ack')).toBe(1);
    expect(forwarded('late-ack')).toHaveLength(1);
  });
});
