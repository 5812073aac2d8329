/**
 * The cluster bus in the gateway: with a `cluster:` section, aedes gets a
 * NATS-backed emitter (cluster/nats-emitter.ts) instead of its in-process
 * one, and a session taken over on another node ends here
 * (docs/operations.md, "The cluster bus"). Without the section nothing here
 * runs and the gateway needs no other service.
 */
import { readFileSync } from 'node:fs';
import type { Aedes, Client } from 'aedes';
import type { Registry } from 'prom-client';
import { DROPPED_PAYLOAD } from '../broker/publish-hook.ts';
import { stateOf } from '../broker/client-state.ts';
import { clusterNodeId } from '../cluster/node-id.ts';
import { NatsEmitter, type EmittedPacket } from '../cluster/nats-emitter.ts';
import type { ShareDeliver } from '../cluster/bus-shares.ts';
import type { SharedSubscriptions } from '../broker/shared-subscriptions.ts';
import type { ClusterConfig } from '../config/cluster-config.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** MQTT 5 DISCONNECT reason "Session taken over". */
const SESSION_TAKEN_OVER = 0x8e;
const NEW_CLIENTS = /^\$SYS\/([^/]+)\/new\/clients$/;

export class GatewayBus {
  private broker: Aedes | undefined;

  readonly mq: NatsEmitter;

  private constructor(cluster: ClusterConfig, path: (p: string) => string, private readonly log: Logger, registry: Registry) {
    const { nats } = cluster;
    this.mq = new NatsEmitter({
      servers: nats.servers, subjectPrefix: nats.subjectPrefix, maxPendingMessages: nats.maxPendingMessages,
      name: `thingiq-${clusterNodeId(cluster.nodeId)}`,
      tls: nats.tls && { caFile: path(nats.tls.caFile), certFile: nats.tls.certFile && path(nats.tls.certFile), keyFile: nats.tls.keyFile && path(nats.tls.keyFile) },
      token: nats.tokenFile ? readSecret(path(nats.tokenFile)) : undefined,
      log, registry,
      // Acknowledged but not forwarded (privacy drop, restriction, private mode, refused payload): never on the bus.
      mayLeave: (packet) => packet.payload !== DROPPED_PAYLOAD,
      fromRemote: (packet) => this.fromRemote(packet),
    });
  }

  /** The bus for a cluster node; undefined without a `cluster:` section. */
  static open(config: GatewayConfig, path: (p: string) => string, log: Logger, registry: Registry): GatewayBus | undefined {
    return config.cluster ? new GatewayBus(config.cluster, path, log, registry) : undefined;
  }

  /** Follows the broker the emitter serves (its id and clients, for takeovers); shared groups take messages from the bus. */
  attach(broker: Aedes, shared: SharedSubscriptions): void {
    this.broker = broker;
    const shares = this.mq.shares;
    shared.useSource({
      subscribe: (group, filter, deliver) => shares.subscribe(group, filter, deliver as unknown as ShareDeliver),
      unsubscribe: (group, filter) => shares.unsubscribe(group, filter),
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.mq.close(r));
  }

  /**
   * aedes announces every new session on `$SYS/{broker}/new/clients`; from
   * another node it means the same session id connected there, so this
   * node's session ends as a takeover [MQTT-3.1.4-2]: MQTT 5 clients get
   * DISCONNECT 0x8E, the lifecycle event says `takeover`. The notice is
   * consumed here, not handed to aedes, whose own handler would close the
   * connection without telling the client why.
   */
  private fromRemote(packet: EmittedPacket): boolean {
    const m = NEW_CLIENTS.exec(packet.topic);
    if (!m) return true;
    const broker = this.broker;
    if (!broker || m[1] === broker.id) return false;
    const clientId = packet.payload.toString('utf8');
    // aedes keeps its clients by session id (live-clients.ts): one look-up, whatever the number of clients.
    const clients = (broker as unknown as { clients: Record<string, Client & { closed?: boolean }> }).clients;
    const client = Object.hasOwn(clients, clientId) ? clients[clientId] : undefined;
    if (!client || client.closed) return false;
    const state = stateOf(client);
    if (state) state.takenOver = true;
    this.log.info({ event: 'session_taken_over', sessionId: clientId, node: 'remote' }, 'session taken over by a connection on another node');
    client.disconnect({ reasonCode: SESSION_TAKEN_OVER }, () => undefined);
    return false;
  }
}

function readSecret(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONFIG', { problems: [`cluster.nats.tokenFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`] });
  }
}
