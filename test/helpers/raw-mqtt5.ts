/** A raw MQTT 5 client over mutual TLS: hand-built v5 packets, every byte under the test's control. */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { ClientPem } from './pki.ts';

const V5 = { protocolVersion: 5 } as const;

export class RawMqtt5 {
  readonly packets: mqttPacket.Packet[] = [];
  closed = false;
  private readonly parser = mqttPacket.parser(V5);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: TLSSocket) {
    this.parser.on('packet', (p) => { this.packets.push(p); this.wake(); });
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static open(port: number, pem: ClientPem): Promise<RawMqtt5> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' });
      s.once('secureConnect', () => resolve(new RawMqtt5(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(...packets: mqttPacket.Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, V5))));
  }

  async waitFor(pred: (ps: mqttPacket.Packet[]) => boolean, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.packets)) {
      if (this.closed || Date.now() > deadline) return pred(this.packets);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return true;
  }

  async connectAs(clientId: string, properties: mqttPacket.IConnectPacket['properties'] = {}): Promise<mqttPacket.IConnackPacket | undefined> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 60, properties });
    await this.waitFor((ps) => ps.some((p) => p.cmd === 'connack'));
    return this.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket | undefined;
  }

  pubacks(): mqttPacket.IPubackPacket[] {
    return this.packets.filter((p) => p.cmd === 'puback') as mqttPacket.IPubackPacket[];
  }

  disconnect(): mqttPacket.IDisconnectPacket | undefined {
    return this.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
  }

  end(): void {
    this.socket.destroy();
  }
}
