/**
 * The rigs of the broker's end-to-end tests, each a real gateway on port 0
 * with this run's certificates:
 * - SubscriberRig: one gateway for a describe, one tenant app subscribed with
 *   mqtt.js and collecting what it receives, device clients made on demand,
 *   and one teardown that ends every client and closes the gateway;
 * - useGatewayPerTest: a gateway of its own for each test.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mosquittoTls } from './device-maker.ts';
import { connect, startGateway, subscribe } from './gateway.ts';
import { TestPki, type ClientPem } from './pki.ts';
import { encode, vehicle, VEHICLE } from './telemetry.ts';

export type StartedGateway = Awaited<ReturnType<typeof startGateway>>;
export type Subscription = Awaited<ReturnType<typeof subscribe>>;

export interface RigOptions {
  /** Config overrides, as startGateway takes them. */
  readonly config?: Record<string, unknown>;
  /** The subscribed app: the `dashboard` app of this tenant (default acme), its MQTT client id (default `dash`) and protocol version (default 4, MQTT 3.1.1). */
  readonly app?: { readonly tenantId?: string; readonly clientId?: string; readonly protocolVersion?: 4 | 5 };
  /** What the app subscribes to (default every topic of its tenant); null: no app is connected at start. */
  readonly filter?: string | null;
}

export class SubscriberRig {
  readonly pki = new TestPki();
  /** Every client the rig made or a test handed it; all are ended at teardown. */
  readonly clients: MqttClient[] = [];
  #gw: StartedGateway | undefined;
  #sub: Subscription | undefined;

  constructor(private readonly options: RigOptions = {}) {}

  get gw(): StartedGateway {
    if (!this.#gw) throw new Error('the rig is not started');
    return this.#gw;
  }

  /** The app's subscription: `received` and `next(n)`. */
  get sub(): Subscription {
    if (!this.#sub) throw new Error('the rig is not started');
    return this.#sub;
  }

  async start(): Promise<void> {
    const { tenantId = 'acme', clientId = 'dash', protocolVersion = 4 } = this.options.app ?? {};
    this.#gw = await startGateway(this.pki, this.options.config);
    if (this.options.filter === null) return;
    const app = await this.connect(this.pki.app(tenantId, 'dashboard'), { clientId, protocolVersion });
    this.#sub = await subscribe(app, this.options.filter ?? `tenants/${tenantId}/#`);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    await this.#gw?.gateway.close();
  }

  /** Connects with these credentials (resolved on CONNACK); the client is ended at teardown. */
  async connect(pem: ClientPem, extra: IClientOptions = {}): Promise<MqttClient> {
    const c = await connect(this.gw.port, pem, extra);
    this.clients.push(c);
    return c;
  }

  /** Device `id` of tenant acme, its client id its device id; ended at teardown. */
  device(id: string, extra: IClientOptions = {}): Promise<MqttClient> {
    return this.connect(this.pki.device('acme', id), { clientId: id, ...extra });
  }

  /** What the app received on exactly this topic. */
  received(topic: string): Subscription['received'] {
    return this.sub.received.filter((m) => m.topic === topic);
  }

  /** Records of tenant acme's device in storage (of one stream when given). */
  records(deviceId: string, stream?: string): Promise<number> {
    return this.gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId, ...(stream ? { stream } : {}) });
  }

  /** Device `id` of tenant acme publishes a retained position at QoS 1 and goes. */
  async publishRetained(id: string, position: { latitude: number; longitude: number }): Promise<void> {
    const c = await this.device(id);
    await c.publishAsync(`tenants/acme/devices/${id}/location`, encode(VEHICLE, vehicle(position)), { qos: 1, retain: true });
    c.end(true);
  }

  /** What a new subscriber (acme's dashboard) to one device's location receives within a short wait. */
  async retainedFor(id: string): Promise<Buffer[]> {
    const app = await this.connect(this.pki.app('acme', 'dashboard'), { clientId: `dash-${this.clients.length}` });
    const sub = await subscribe(app, `tenants/acme/devices/${id}/location`);
    await sub.next(1, 700);
    app.end(true);
    return sub.received.map((r) => r.payload);
  }

  /** mosquitto_pub/_sub arguments for an MQTT 3.1.1 mutual-TLS connection to the rig's gateway. */
  mosquittoArgs(pem: ClientPem, clientId: string): string[] {
    return mosquittoTls(this.gw.port, pem, clientId);
  }
}

/** A SubscriberRig started before the enclosing describe's tests and torn down after them. */
export function useSubscriberRig(options: RigOptions = {}): SubscriberRig {
  const rig = new SubscriberRig(options);
  beforeAll(() => rig.start());
  afterAll(() => rig.close());
  return rig;
}

/**
 * A gateway of its own for each test, made with one certificate set: `start`
 * runs it, `defer` queues what else the test opened (relays, clients); after
 * each test those are closed first, then the gateway.
 */
export function useGatewayPerTest() {
  const pki = new TestPki();
  let running: StartedGateway | undefined;
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) c();
    await running?.gateway.close();
    running = undefined;
  });
  return {
    pki,
    async start(overrides: Record<string, unknown> = {}): Promise<StartedGateway> {
      running = await startGateway(pki, overrides);
      return running;
    },
    defer(cleanup: () => void): void {
      cleanups.push(cleanup);
    },
  };
}
