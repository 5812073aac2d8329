/**
 * PINGREQs are answered by the guarded socket: never before the CONNACK
 * [MQTT-3.2.0-1], also when the two bytes arrive in separate TLS records, and
 * a PINGREQ with a body is malformed [MQTT-3.12.1].
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';

const CONNECT = (clientId: string) => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 });
const PINGREQ = Buffer.from([0xc0, 0x00]);

describe('PINGREQ handling', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  it('answers a PINGREQ sent together with the CONNECT only after the CONNACK', async () => {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-1'));
    raw.socket.write(Buffer.concat([CONNECT('truck-1'), PINGREQ]));
    expect(await raw.waitFor((ps) => ps.some((p) => p.cmd === 'pingresp'))).toBe(true);
    expect(raw.packets.map((p) => p.cmd)).toEqual(['connack', 'pingresp']);
    raw.end();
  });

  it('answers a PINGREQ whose two bytes come in separate records, and one per PINGREQ', async () => {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-2'));
    expect(await raw.connectAs('truck-2')).toBe(0);
    raw.socket.write(PINGREQ.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 100));
    raw.socket.write(Buffer.concat([PINGREQ.subarray(1), PINGREQ, PINGREQ]));
    expect(await raw.waitFor((ps) => ps.filter((p) => p.cmd === 'pingresp').length === 3)).toBe(true);
    // Nothing else was made of those bytes: a SUBSCRIBE after them is answered normally.
    raw.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'tenants/acme/devices/truck-2/location', qos: 1 }] });
    expect(await raw.waitFor((ps) => ps.some((p) => p.cmd === 'suback'))).toBe(true);
    expect(raw.closed).toBe(false);
    raw.end();
  });

  it('closes the connection on a PINGREQ with a body (TIQ_ERR_MALFORMED_PACKET)', async () => {
    const before = await gw.gateway.stats.refusalCount('TIQ_ERR_MALFORMED_PACKET');
    const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-3'));
    expect(await raw.connectAs('truck-3')).toBe(0);
    raw.socket.write(Buffer.from([0xc0, 0x01, 0x00]));
    await raw.waitFor(() => false, 3000);
    expect(raw.closed).toBe(true);
    expect(raw.packets.some((p) => p.cmd === 'pingresp')).toBe(false);
    expect(await gw.gateway.stats.refusalCount('TIQ_ERR_MALFORMED_PACKET')).toBe(before + 1);
  });
});
