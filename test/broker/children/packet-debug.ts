/**
 * Child of quiet-debug.test.ts: loads the gateway module (which loads aedes and mqtt-packet as production does),
 * parses and writes one PUBLISH with mqtt-packet, and prints the namespaces that got the do-nothing logger.
 */
import { createRequire } from 'node:module';
import { quietNamespaces } from '../../../src/broker/quiet-debug.ts';
import '../../../src/gateway/gateway.ts';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opts: object): { on(event: string, fn: (p: unknown) => void): void; parse(b: Buffer): number };
  generate(packet: object): Buffer;
};
const bytes = mqttPacket.generate({ cmd: 'publish', topic: 'tenants/acme/devices/d-1/location', payload: Buffer.from('x'), qos: 1, messageId: 7 });
const parser = mqttPacket.parser({ protocolVersion: 4 });
let parsed = 0;
parser.on('packet', () => { parsed++; });
parser.parse(bytes);
process.stdout.write(`${JSON.stringify({ parsed, quiet: quietNamespaces() })}\n`);
