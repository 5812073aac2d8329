/** What the shared-subscription tests (3.1.1 and MQTT 5) publish, read back and wait on. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { sleep } from './gateway.ts';
import type { ClientPem } from './pki.ts';

/** A device message in the proto3 JSON mapping: forwarded as JSON, one line for mosquitto_sub. */
export function fix(sequence: number): string {
  return JSON.stringify({ timeUnixMs: Date.now(), sequence, latitude: 48.85, longitude: 2.29 });
}

export function sequenceOf(payload: string): string {
  return String((JSON.parse(payload) as { sequence: string | number }).sequence);
}

/** Polls `check` until it holds or the time is up; returns its last answer. */
export async function until(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(25);
  return check();
}

/** Numbered device messages, 1, 2, 3, … across all the calls of one test file. */
export class Sequencer {
  private next = 1;

  /** Publishes `count` messages from the device, each acknowledged (QoS 1) before the next; returns their sequence numbers. */
  async publish(device: MqttClient, count: number): Promise<string[]> {
    const sent: string[] = [];
    for (let i = 0; i < count; i++) {
      const s = this.next++;
      sent.push(String(s));
      await device.publishAsync('tenants/acme/devices/truck-1/location', fix(s), { qos: 1 });
    }
    return sent;
  }
}

/** mosquitto_sub subscribed to `filter` at QoS 1 as the app, at the given protocol version; each line it prints goes to `onLine`. */
export function mosquittoSub(port: number, app: ClientPem, clientId: string, version: 'mqttv311' | 'mqttv5', filter: string, onLine: (line: string) => void): ChildProcess {
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '--cafile', app.caPath, '--cert', app.certPath, '--key', app.keyPath,
    '-i', clientId, '-V', version, '-q', '1', '-t', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter(Boolean)) onLine(line);
  });
  return child;
}
