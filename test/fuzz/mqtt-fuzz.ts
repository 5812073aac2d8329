/**
 * What the MQTT 3.1.1 and MQTT 5 input fuzzers share: cutting a stream into
 * chunks, overwriting bytes, and a real gateway (small connect timeout, 8 KiB
 * packets, no flapping limit) with a good device of the same protocol version
 * that must keep flowing while each input is fired on a fresh connection.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt, type MqttVersion } from '../helpers/raw-mqtt.ts';
import { RawMqtt5 } from '../helpers/raw-mqtt5.ts';
import { goodDevice, goodDeviceFlows } from '../abuse/abuse-helpers.ts';

/** Cuts a buffer at the given points. */
export function chunks(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, b.length]) { out.push(b.subarray(prev, c)); prev = c; }
  return out;
}

/** A copy of the buffer with the bytes at the given offsets (modulo its length) overwritten. */
export function mutate(b: Buffer, edits: [number, number][]): Buffer {
  const out = Buffer.from(b);
  for (const [at, v] of edits) if (out.length) out[at % out.length] = v;
  return out;
}

export class FuzzGateway {
  readonly pki = new TestPki();
  readonly attacker = this.pki.device('acme', 'fuzzer');
  gw!: Awaited<ReturnType<typeof startGateway>>;
  good!: MqttClient;
  private runs = 0;

  private constructor(readonly version: MqttVersion) {}

  /** Starts the gateway and the good device (at `version`) before the enclosing describe's tests, closes them after. */
  static hooked(version: MqttVersion): FuzzGateway {
    const f = new FuzzGateway(version);
    beforeAll(async () => {
      f.gw = await startGateway(f.pki, {
        mqtt: { connectTimeoutMs: 300, keepaliveLimitS: 60 },
        limits: { maxPacketBytes: 8192, flapping: { maxConnects: 1_000_000 } },
        log: { level: 'error' },
      });
      f.good = await goodDevice(f.gw.port, f.pki, 'good-1', version);
    });
    afterAll(async () => {
      f.good?.end(true);
      await f.gw?.gateway.close();
    });
    return f;
  }

  /** Sends the bytes on a fresh connection, waits until the gateway closes it or goes quiet; every 20th run the good device must still flow. */
  async fire(bytes: Buffer): Promise<void> {
    const raw = this.version === 5 ? await RawMqtt5.open(this.gw.port, this.attacker) : await RawMqtt.open(this.gw.port, this.attacker);
    raw.socket.write(bytes);
    await raw.waitFor(() => false, 150);
    raw.end();
    if (++this.runs % 20 === 0) await goodDeviceFlows(this.good);
  }
}
