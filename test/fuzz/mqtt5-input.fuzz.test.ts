/**
 * The raw MQTT 5 input path under fuzzing (the 3.1.1 run is
 * mqtt-input.fuzz.test.ts): the FrameScanner accepts every valid v5 client
 * packet stream (properties, DISCONNECT with a reason code) however it is
 * chunked, and a real gateway survives random and mutated v5 packets while
 * a good MQTT 5 device keeps flowing.
 */
import fc from 'fast-check';
import type mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { FrameScanner } from '../../src/limits/frame-scanner.ts';
import { connectBytes, generate } from '../helpers/raw-mqtt.ts';
import { connectPacket, goodDeviceFlows } from '../abuse/abuse-helpers.ts';
import { fuzzRuns, LONG_RUN } from './fuzz-runs.ts';
import { chunks, FuzzGateway, mutate } from './mqtt-fuzz.ts';

const topic = fc.stringMatching(/^[a-z0-9/]{1,40}$/);
const userProperties = fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z0-9]{0,12}$/), { maxKeys: 3 });
const clientPacket: fc.Arbitrary<mqttPacket.Packet> = fc.oneof(
  fc.record({
    topic, payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), qos: fc.constantFrom(0, 1, 2), messageId: fc.integer({ min: 1, max: 65535 }),
    retain: fc.boolean(), dup: fc.boolean(), userProperties, messageExpiryInterval: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
    topicAlias: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
  }).map(({ userProperties: up, messageExpiryInterval, topicAlias, ...p }) => ({
    cmd: 'publish' as const, ...p, qos: p.qos as 0 | 1 | 2,
    properties: { userProperties: up, ...(messageExpiryInterval ? { messageExpiryInterval } : {}), ...(topicAlias ? { topicAlias } : {}) },
  })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), filter: topic, qos: fc.constantFrom(0, 1, 2), nl: fc.boolean(), rap: fc.boolean(), rh: fc.constantFrom(0, 1, 2), si: fc.integer({ min: 1, max: 1000 }) })
    .map(({ messageId, filter, qos, nl, rap, rh, si }) => ({ cmd: 'subscribe' as const, messageId, subscriptions: [{ topic: filter, qos: qos as 0 | 1 | 2, nl, rap, rh }], properties: { subscriptionIdentifier: si } })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), filter: topic }).map(({ messageId, filter }) => ({ cmd: 'unsubscribe' as const, messageId, unsubscriptions: [filter] })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), reasonCode: fc.constantFrom(0, 0x10, 0x80) }).map((p) => ({ cmd: 'puback' as const, ...p })),
  fc.constant({ cmd: 'pingreq' as const }),
  fc.constantFrom(0, 4, 0x80).map((reasonCode) => ({ cmd: 'disconnect' as const, reasonCode, properties: { reasonString: 'bye' } })),
);

const connect5 = (clientId: string) => connectBytes(5, clientId, 60, { sessionExpiryInterval: 0, receiveMaximum: 10 });

describe('FrameScanner, MQTT 5', { timeout: LONG_RUN ? 0 : 30_000 }, () => {
  it('accepts every valid v5 client packet stream, however chunked', () => {
    fc.assert(fc.property(fc.array(clientPacket, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (packets, cuts) => {
      const stream = Buffer.concat([connect5('d'), ...packets.map((p) => generate(p, 5))]);
      const scanner = new FrameScanner(4096);
      for (const c of chunks(stream, cuts)) expect(scanner.scan(c)).toBeUndefined();
      expect(scanner.protocolLevel).toBe(5);
    }), { numRuns: fuzzRuns(1000) });
  });

  it('still refuses a 3.1.1 DISCONNECT with a body', () => {
    const v4 = connectPacket('d');
    const scanner = new FrameScanner(4096);
    expect(scanner.scan(Buffer.concat([v4, Buffer.from([0xe0, 0x01, 0x00])]))?.code).toBe('TIQ_ERR_MALFORMED_PACKET');
  });
});

describe('random and mutated MQTT 5 packets into a real gateway', { timeout: LONG_RUN ? 0 : 60_000 }, () => {
  const fuzz = FuzzGateway.hooked(5);
  const fire = (bytes: Buffer) => fuzz.fire(bytes);

  it('valid v5 packet streams with bytes overwritten', async () => {
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }));
    await fc.assert(fc.asyncProperty(fc.array(clientPacket, { maxLength: 6 }), fc.array(edit, { maxLength: 4 }), async (packets, edits) => {
      const stream = Buffer.concat([connect5('fuzzer'), ...packets.map((p) => generate(p, 5))]);
      await fire(mutate(stream, edits.map(([at, v]) => [at, v])));
    }), { numRuns: fuzzRuns(25, 100) });
  });

  it('random bytes after a valid v5 CONNECT', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      await fire(Buffer.concat([connect5('fuzzer'), Buffer.from(bytes)]));
    }), { numRuns: fuzzRuns(25, 100) });
  });

  it('afterwards the gateway still serves the good device, and stored nothing of the fuzzer', async () => {
    await goodDeviceFlows(fuzz.good);
    expect(await fuzz.gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'fuzzer' })).toBe(0);
  });
});
