/** A raw MQTT 3.1.1 client over mutual TLS: hand-built packets, every byte under the test's control. */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { ClientPem } from './pki.ts';

export class RawMqtt {
  readonly packets: mqttPacket.Packet[] = [];
  closed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: TLSSocket) {
    this.parser.on('packet', (p) => { this.packets.push(p); this.wake(); });
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static open(port: number, pem: ClientPem): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' });
      s.once('secureConnect', () => resolve(new RawMqtt(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(...packets: mqttPacket.Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
  }

  async waitFor(pred: (ps: mqttPacket.Packet[]) => boolean, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.packets)) {
      if (this.closed || Date.now() > deadline) return pred(this.packets);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return true;
  }

  async connectAs(clientId: string): Promise<number | undefined> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 });
    await this.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    const ack = this.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket | undefined;
    return ack?.returnCode;
  }

  pubacks(): number[] {
    return this.packets.filter((p) => p.cmd === 'puback').map((p) => (p as mqttPacket.IPubackPacket).messageId!);
  }

  end(): void {
    this.socket.destroy();
  }
}

export function publishPacket(topic: string, payload: Buffer, messageId: number, qos: 0 | 1 = 1): mqttPacket.IPublishPacket {
  return { cmd: 'publish', topic, payload, qos, messageId, retain: false, dup: false };
}
