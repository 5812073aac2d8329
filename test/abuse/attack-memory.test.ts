/**
 * After 1,000 attack connections (handshakes that end in garbage, oversize
 * announcements, PUBLISH before CONNECT) the gateway's heap comes back near
 * where it started, and its per-connection bookkeeping is empty. With
 * `node --expose-gc` the heap is measured after a full GC; without it the
 * bound is generous (allocations are not yet collected): 64 MiB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { goodDevice, goodDeviceFlows, varint } from './abuse-helpers.ts';

const ATTACKS = 1000;
const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number {
  gc?.();
  return process.memoryUsage().heapUsed;
}

describe('no memory growth after an attack', { timeout: 120_000 }, () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => { gw = await startGateway(pki, { log: { level: 'error' }, limits: { flapping: { maxConnects: 1_000_000 } } }); });
  afterAll(async () => { await gw?.gateway.close(); });

  it(`${ATTACKS} attack connections leave the heap within bounds and no tracked connections`, async () => {
    const pem = pki.device('acme', 'attacker');
    const payloads = [
      Buffer.concat([Buffer.from([0x10]), varint(200_000_000), Buffer.alloc(1024)]),
      Buffer.from([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]),
      Buffer.alloc(2048, 0xff),
    ];
    const good = await goodDevice(gw.port, pki);
    await goodDeviceFlows(good);
    const before = heapAfterGc();
    for (let i = 0; i < ATTACKS; i += 25) {
      await Promise.all(Array.from({ length: 25 }, async (_, j) => {
        const raw = await RawMqtt.open(gw.port, pem);
        raw.socket.write(payloads[(i + j) % payloads.length]!);
        await raw.waitFor(() => false, 2000);
        raw.end();
      }));
    }
    await sleep(300);
    await goodDeviceFlows(good);
    const after = heapAfterGc();
    const limits = gw.gateway.limits!;
    expect(limits.perAddress.count('127.0.0.1')).toBe(1); // the good device only
    expect(limits.perTenant.count('acme')).toBe(1);
    expect(after - before).toBeLessThan(gc ? 16 * 1024 * 1024 : 64 * 1024 * 1024);
    expect(await gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'attacker' })).toBe(0);
    good.end(true);
  });
});
