/**
 * A raw MQTT client over mutual TLS: hand-built packets, every byte under the
 * test's control. One socket, parser and generator for either protocol level
 * (4: MQTT 3.1.1, 5: MQTT 5); RawMqtt and RawMqtt5 (raw-mqtt5.ts) add what each
 * version's acknowledgements carry (a 3.1.1 CONNACK return code, MQTT 5 reason
 * codes and DISCONNECT).
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { ClientPem } from './pki.ts';

/** The CONNECT protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5. */
export type MqttVersion = 4 | 5;

/** Encodes a packet as the given protocol level writes it. */
export function generate(packet: mqttPacket.Packet, version: MqttVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

/** A clean-session CONNECT packet at the given protocol level (v5 properties only with 5). */
export function connectBytes(version: MqttVersion, clientId: string, keepalive = 60, properties?: mqttPacket.IConnectPacket['properties']): Buffer {
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId, keepalive, ...(properties ? { properties } : {}) }, version);
}

/** A verified mutual-TLS socket to the gateway's MQTT listener. */
export function openTls(port: number, pem: ClientPem): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

export class RawMqttSocket {
  readonly packets: mqttPacket.Packet[] = [];
  closed = false;
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private waiters: (() => void)[] = [];

  protected constructor(readonly socket: TLSSocket, readonly version: MqttVersion) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p) => { this.packets.push(p); this.wake(); });
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(...packets: mqttPacket.Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => generate(p, this.version))));
  }

  async waitFor(pred: (ps: mqttPacket.Packet[]) => boolean, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.packets)) {
      if (this.closed || Date.now() > deadline) return pred(this.packets);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return true;
  }

  /** The first CONNACK, once one has come (or the connection closed, or 5 s passed). */
  async connack(): Promise<mqttPacket.IConnackPacket | undefined> {
    await this.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    return this.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket | undefined;
  }

  protected pubackPackets(): mqttPacket.IPubackPacket[] {
    return this.packets.filter((p) => p.cmd === 'puback') as mqttPacket.IPubackPacket[];
  }

  end(): void {
    this.socket.destroy();
  }
}

/** MQTT 3.1.1 (protocol level 4). */
export class RawMqtt extends RawMqttSocket {
  static async open(port: number, pem: ClientPem): Promise<RawMqtt> {
    return new RawMqtt(await openTls(port, pem), 4);
  }

  async connectAs(clientId: string): Promise<number | undefined> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 });
    return (await this.connack())?.returnCode;
  }

  pubacks(): number[] {
    return this.pubackPackets().map((p) => p.messageId!);
  }
}

export function publishPacket(topic: string, payload: Buffer, messageId: number, qos: 0 | 1 = 1): mqttPacket.IPublishPacket {
  return { cmd: 'publish', topic, payload, qos, messageId, retain: false, dup: false };
}
