/** A raw MQTT 5 client over mutual TLS (the shared socket is raw-mqtt.ts): reason codes on every acknowledgement, DISCONNECT from the server. */
import type mqttPacket from 'mqtt-packet';
import type { ClientPem } from './pki.ts';
import { openTls, RawMqttSocket } from './raw-mqtt.ts';

export class RawMqtt5 extends RawMqttSocket {
  static async open(port: number, pem: ClientPem): Promise<RawMqtt5> {
    return new RawMqtt5(await openTls(port, pem), 5);
  }

  async connectAs(clientId: string, properties: mqttPacket.IConnectPacket['properties'] = {}): Promise<mqttPacket.IConnackPacket | undefined> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 60, properties });
    return this.connack();
  }

  pubacks(): mqttPacket.IPubackPacket[] {
    return this.pubackPackets();
  }

  disconnect(): mqttPacket.IDisconnectPacket | undefined {
    return this.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
  }
}
