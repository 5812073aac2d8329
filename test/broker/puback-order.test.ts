/** [MQTT-4.6.0-2]: PUBACKs leave in the order the PUBLISHes came in, even when the pipeline finishes out of order. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordWriter } from '../../src/pipeline/context.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { publishPacket, RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

/** Commits each record after a random delay, so completions arrive shuffled. */
class ShuffledWriter implements RecordWriter {
  readonly commitOrder: number[] = [];
  write(record: SealedRecord): Promise<void> {
    return new Promise((r) => setTimeout(() => { this.commitOrder.push(record.sequence); r(); }, Math.random() * 40));
  }
}

describe('PUBACK ordering per client', () => {
  const pki = new TestPki();
  const writer = new ShuffledWriter();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    gw = await startGateway(pki, {}, {
      writer,
      sealer: { seal: (i) => ({ formatVersion: 1, dekId: 'test', kekRef: 'test', iv: Buffer.alloc(12), ciphertext: i.plaintext, tag: Buffer.alloc(16) }) },
    });
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it('acknowledges 100 pipelined publishes in arrival order although commits finish shuffled', async () => {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-1'));
    expect(await raw.connectAs('truck-1')).toBe(0);
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    // One write: aedes dispatches the whole read chunk concurrently.
    raw.send(...ids.map((id) => publishPacket('tenants/acme/devices/truck-1/location', encode(VEHICLE, vehicle({ sequence: id })), id)));
    await raw.waitFor(() => raw.pubacks().length === ids.length, 10_000);
    expect(raw.pubacks()).toEqual(ids);
    // the commits really were out of order, or this test proves nothing
    expect(writer.commitOrder).not.toEqual([...writer.commitOrder].sort((a, b) => a - b));
    raw.end();
  });
});
