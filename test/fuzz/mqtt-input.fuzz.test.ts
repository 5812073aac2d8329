/**
 * The raw MQTT input path under fuzzing. In process: the FrameScanner never
 * throws and never refuses a valid client packet stream, however it is cut
 * into chunks. Against a real gateway: random and mutated packets after a
 * real TLS handshake; the gateway survives and a good device keeps flowing.
 * A failing case found here becomes a row of test/abuse/raw-input.test.ts.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { FrameScanner } from '../../src/limits/frame-scanner.ts';
import { connectPacket, goodDeviceFlows } from '../abuse/abuse-helpers.ts';
import { fuzzRuns, LONG_RUN } from './fuzz-runs.ts';
import { chunks, FuzzGateway, mutate } from './mqtt-fuzz.ts';

const topic = fc.stringMatching(/^[a-z0-9/]{1,40}$/);
const clientPacket: fc.Arbitrary<mqttPacket.Packet> = fc.oneof(
  fc.record({ topic, payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), qos: fc.constantFrom(0, 1, 2), messageId: fc.integer({ min: 1, max: 65535 }), retain: fc.boolean(), dup: fc.boolean() })
    .map((p) => ({ cmd: 'publish' as const, ...p, qos: p.qos as 0 | 1 | 2 })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), filter: topic, qos: fc.constantFrom(0, 1, 2) })
    .map(({ messageId, filter, qos }) => ({ cmd: 'subscribe' as const, messageId, subscriptions: [{ topic: filter, qos: qos as 0 | 1 | 2 }] })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), filter: topic }).map(({ messageId, filter }) => ({ cmd: 'unsubscribe' as const, messageId, unsubscriptions: [filter] })),
  fc.integer({ min: 1, max: 65535 }).map((messageId) => ({ cmd: 'puback' as const, messageId })),
  fc.integer({ min: 1, max: 65535 }).map((messageId) => ({ cmd: 'pubrel' as const, messageId })),
  fc.constant({ cmd: 'pingreq' as const }),
  fc.constant({ cmd: 'disconnect' as const }),
);

describe('FrameScanner', { timeout: LONG_RUN ? 0 : 30_000 }, () => {
  it('accepts every valid client packet stream, however chunked', () => {
    fc.assert(fc.property(fc.array(clientPacket, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (packets, cuts) => {
      const stream = Buffer.concat([connectPacket('d'), ...packets.map((p) => mqttPacket.generate(p))]);
      const scanner = new FrameScanner(4096);
      for (const c of chunks(stream, cuts)) expect(scanner.scan(c)).toBeUndefined();
    }), { numRuns: fuzzRuns(1000) });
  });

  it('never throws on random bytes, and gives the same verdict however they are chunked', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
      const whole = new FrameScanner(1024).scan(bytes);
      const scanner = new FrameScanner(1024);
      let split;
      for (const c of chunks(Buffer.from(bytes), cuts)) if ((split = scanner.scan(c))) break;
      expect(split?.code).toBe(whole?.code);
    }), { numRuns: fuzzRuns(2000) });
  });
});

describe('random and mutated packets into a real gateway', { timeout: LONG_RUN ? 0 : 60_000 }, () => {
  const fuzz = FuzzGateway.hooked(4);
  const fire = (bytes: Buffer) => fuzz.fire(bytes);

  it('random bytes, with and without a valid CONNECT first', async () => {
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 300 }), async (withConnect, bytes) => {
      await fire(Buffer.concat([withConnect ? connectPacket('fuzzer') : Buffer.alloc(0), Buffer.from(bytes)]));
    }), { numRuns: fuzzRuns(25, 100) });
  });

  it('valid packet streams with bytes overwritten', async () => {
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }));
    await fc.assert(fc.asyncProperty(fc.array(clientPacket, { maxLength: 6 }), fc.array(edit, { maxLength: 4 }), async (packets, edits) => {
      const stream = Buffer.concat([connectPacket('fuzzer'), ...packets.map((p) => mqttPacket.generate(p))]);
      await fire(mutate(stream, edits.map(([at, v]) => [at, v])));
    }), { numRuns: fuzzRuns(25, 100) });
  });

  it('afterwards the gateway still serves the good device, and stored nothing of the fuzzer', async () => {
    await goodDeviceFlows(fuzz.good);
    expect(await fuzz.gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'fuzzer' })).toBe(0);
  });
});
