/** Runs a real gateway in-process on port 0, with its logs captured for assertions. */
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { parseConfig } from '../../src/config/load.ts';
import type { ControlStore } from '../../src/control/control-store.ts';
import { openControlStore } from '../../src/control/open-control-store.ts';
import { Gateway, type GatewayOptions } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/log.ts';
import type { ClientPem, TestPki } from './pki.ts';

export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  }
  events(event: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l['event'] === event);
  }
}

export const TEST_TENANTS = {
  acme: {
    deviceGroups: { trucks: ['truck-1', 'truck-2'] },
    apps: {
      dashboard: {},
      'trucks-only': { deviceGroups: ['trucks'], streams: ['location'] },
    },
  },
  globex: { apps: { dashboard: {} } },
  dormant: { active: false, apps: { dashboard: {} } },
};

export async function startGateway(pki: TestPki, overrides: Record<string, unknown> = {}, components: GatewayOptions['components'] = {}) {
  const logs = new LogCapture();
  const config = parseConfig({ pkiDir: pki.dir, dataDir: `${pki.baseDir}/data`, tenants: TEST_TENANTS, admin: { port: 0, mtlsPort: 0 }, ...overrides });
  const gateway = await Gateway.start({ config, baseDir: pki.baseDir, logger: createLogger('debug', logs), mqttPort: 0, components });
  return { gateway, logs, port: gateway.mqttPort };
}

export function clientOptions(port: number, pem: ClientPem, extra: IClientOptions = {}): IClientOptions {
  return {
    protocol: 'mqtts', host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca,
    protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...extra,
  };
}

/** Connects and resolves on CONNACK, or rejects with the error. */
export function connect(port: number, pem: ClientPem, extra: IClientOptions = {}): Promise<MqttClient> {
  return connectWith(clientOptions(port, pem, extra));
}

/** mqtt.js with these options, resolved on CONNACK; rejects with mqtt.js's error (its `code` is the CONNACK return code). */
export function connectWith(options: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(options);
    c.once('connect', () => resolve(c));
    c.once('error', (e) => { c.end(true); reject(e); });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Collects messages for a filter; `next(n)` waits for n of them. */
export async function subscribe(client: MqttClient, filter: string, qos: 0 | 1 = 1) {
  const received: { topic: string; payload: Buffer }[] = [];
  let waiter: (() => void) | undefined;
  client.on('message', (topic, payload) => { received.push({ topic, payload }); waiter?.(); });
  const granted = await client.subscribeAsync(filter, { qos });
  return {
    granted: granted[0]?.qos,
    received,
    async next(n: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n && Date.now() < deadline) {
        await new Promise<void>((r) => { waiter = r; setTimeout(r, 50); });
      }
      return received.slice(0, n);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether the client's connection is closed within `timeoutMs` (at once when it is not connected). */
export function closedWithin(client: MqttClient, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(true);
    const t = setTimeout(() => resolve(false), timeoutMs);
    client.once('close', () => { clearTimeout(t); resolve(true); });
  });
}

/** The SUBACK return code for one filter (mqtt.js rejects on 0x80; the packet still says which). */
export async function subackCode(client: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos });
    return granted[0]?.qos ?? -1;
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (packet?.granted) return packet.granted[0] ?? -1;
    throw err;
  }
}

/**
 * Runs `work` on a second connection to the gateway's control store, as the
 * offline CLI or another gateway process would, and closes it.
 */
export async function withSecondControlStore<T>(gateway: Gateway, work: (store: ControlStore) => Promise<T>): Promise<T> {
  const store = await openControlStore(gateway.config.controlStore, gateway.path(gateway.config.dataDir));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
