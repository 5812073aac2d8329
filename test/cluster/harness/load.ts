/**
 * QoS 1 load through HAProxy with mqtt.js: each device publishes numbered
 * sensor readings with a small window in flight and records every PUBACK.
 * A device whose connection drops reconnects on its own (through HAProxy, so
 * to a live node) and mqtt.js resends what was not acknowledged; the driver
 * records how long each device was without a connection.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { ClientPem } from '../../helpers/pki.ts';
import { encode, sensor, SENSOR } from '../../helpers/telemetry.ts';

export interface LoadDevice {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly pem: ClientPem;
}

interface DeviceState {
  readonly d: LoadDevice;
  readonly client: MqttClient;
  next: number;
  inFlight: number;
  readonly acked: Set<number>;
  lostAt: number | undefined;
  readonly outages: number[];
}

export class QosOneLoad {
  readonly #states: DeviceState[] = [];
  #running = false;
  #sent = 0;

  constructor(readonly port: number, devices: readonly LoadDevice[], readonly window = 4) {
    for (const d of devices) {
      const client = mqtt.connect({
        protocol: 'mqtts', host: '127.0.0.1', port, cert: d.pem.cert, key: d.pem.key, ca: d.pem.ca, servername: 'localhost',
        clientId: d.deviceId, protocolVersion: 4, clean: true, reconnectPeriod: 200, connectTimeout: 3000, keepalive: 5,
      });
      const s: DeviceState = { d, client, next: 1, inFlight: 0, acked: new Set(), lostAt: undefined, outages: [] };
      client.on('close', () => { s.lostAt ??= Date.now(); });
      client.on('connect', () => {
        if (s.lostAt !== undefined) s.outages.push(Date.now() - s.lostAt);
        s.lostAt = undefined;
        this.#pump(s);
      });
      client.on('error', () => { /* reconnects on its own */ });
      this.#states.push(s);
    }
  }

  /** Resolves once every device is connected. */
  async connected(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#states.some((s) => !s.client.connected)) {
      if (Date.now() > deadline) throw new Error('load devices did not all connect');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  start(): void {
    this.#running = true;
    for (const s of this.#states) this.#pump(s);
  }

  #pump(s: DeviceState): void {
    while (this.#running && s.client.connected && s.inFlight < this.window) {
      const sequence = s.next++;
      s.inFlight++;
      this.#sent++;
      const payload = encode(SENSOR, sensor({ sequence, timeUnixMs: Date.now() }));
      s.client.publish(`tenants/${s.d.tenantId}/devices/${s.d.deviceId}/sensor`, payload, { qos: 1 }, (err) => {
        s.inFlight--;
        if (!err) s.acked.add(sequence);
        setImmediate(() => this.#pump(s));
      });
    }
  }

  /** Stops sending; waits (bounded) for what is in flight to be acknowledged. */
  async stop(settleMs = 15_000): Promise<void> {
    this.#running = false;
    const deadline = Date.now() + settleMs;
    while (this.#states.some((s) => s.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  get sent(): number {
    return this.#sent;
  }

  get ackedCount(): number {
    return this.#states.reduce((n, s) => n + s.acked.size, 0);
  }

  /** Acknowledged sequences per `tenant/device`. */
  acked(): Map<string, Set<number>> {
    return new Map(this.#states.map((s) => [`${s.d.tenantId}/${s.d.deviceId}`, new Set(s.acked)]));
  }

  /** Every device's time without a connection, per outage (ms). */
  outages(): number[] {
    return this.#states.flatMap((s) => s.outages);
  }

  get allConnected(): boolean {
    return this.#states.every((s) => s.client.connected);
  }

  /** Sequences still unacknowledged and not abandoned. */
  get inFlight(): number {
    return this.#states.reduce((n, s) => n + s.inFlight, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.#states.map((s) => s.client.endAsync(true).catch(() => {})));
  }
}
