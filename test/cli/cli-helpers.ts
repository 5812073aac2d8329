/** Shared by the CLI tests against a running gateway: admin API calls as a given certificate, publishing, export parsing. */
import { request } from 'node:https';
import type { MqttClient } from 'mqtt';
import { connect } from '../helpers/gateway.ts';
import type { ClientPem } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

/** Each spawned command starts a Node process that compiles the CLI: seconds apiece on a busy machine. */
export const CLI_TIMEOUT = 480_000;

export function call(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      // An export that fails part-way (a shredded key) is cut off: what arrived is what the caller got.
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** Lines of an NDJSON export that carry decrypted data. */
export function decryptedLines(text: string): number {
  return text.split('\n').filter((l) => {
    try {
      return typeof (JSON.parse(l) as { data?: unknown }).data === 'object';
    } catch {
      return false;
    }
  }).length;
}

export async function publish(port: number, pem: ClientPem, deviceId: string, n: number): Promise<void> {
  const device: MqttClient = await connect(port, pem, { clientId: deviceId });
  for (let i = 0; i < n; i++) await device.publishAsync(`tenants/acme/devices/${deviceId}/location`, encode(VEHICLE, vehicle()), { qos: 1 });
  await device.endAsync();
}

