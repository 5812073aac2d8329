/** The cluster bus's metrics (docs/operations.md, "The cluster bus"); labels are bounded: reason only. */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a message did not cross the bus, or was not taken from it. */
export type BusDropReason =
  /** Held while NATS was unreachable, then pushed out by newer ones (`cluster.nats.maxPendingMessages`). */
  | 'overflow'
  /** Larger than the NATS server's max_payload, or not encodable. */
  | 'too-large'
  /** NATS refused or failed the publish. */
  | 'publish-failed'
  /** Received bytes that do not decode, or a topic that does not belong to its subject. */
  | 'malformed'
  /** Still held when the gateway closed. */
  | 'closed'
  /** A takeover notice while NATS was unreachable: never held (late, it could close a newer session). */
  | 'outage'
  /** From another node while this node's local delivery was behind by that many messages. */
  | 'backlog';

export class BusMetrics {
  readonly connected: Gauge;
  readonly pending: Gauge;
  readonly tenants: Gauge;
  private readonly dropped: Counter;
  private readonly published: Counter;
  private readonly received: Counter;
  private readonly reconnects: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connected = new Gauge({ name: 'thingiq_bus_connected', help: 'Whether this node is connected to NATS (1) or not (0)', registers });
    this.pending = new Gauge({ name: 'thingiq_bus_pending_messages', help: 'Messages held for the bus while NATS is unreachable', registers });
    this.tenants = new Gauge({ name: 'thingiq_bus_tenant_subscriptions', help: 'Tenants whose subjects this node subscribes to (it has local subscribers of them)', registers });
    this.dropped = new Counter({ name: 'thingiq_bus_dropped_total', help: 'Messages that did not cross the cluster bus, by reason', labelNames: ['reason'], registers });
    this.published = new Counter({ name: 'thingiq_bus_published_total', help: 'Messages this node published on the cluster bus', registers });
    this.received = new Counter({ name: 'thingiq_bus_received_total', help: 'Messages from other nodes delivered to local subscribers', registers });
    this.reconnects = new Counter({ name: 'thingiq_bus_reconnects_total', help: 'Reconnections to NATS after losing it', registers });
    for (const reason of ['overflow', 'too-large', 'publish-failed', 'malformed', 'closed', 'outage', 'backlog'] satisfies BusDropReason[]) this.dropped.inc({ reason }, 0);
    this.connected.set(0);
  }

  drop(reason: BusDropReason, n = 1): void {
    if (n > 0) this.dropped.inc({ reason }, n);
  }

  publish(n = 1): void {
    this.published.inc(n);
  }

  receive(): void {
    this.received.inc();
  }

  reconnect(): void {
    this.reconnects.inc();
  }
}
