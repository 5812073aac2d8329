/**
 * Shared subscriptions `$share/{group}/tenants/{tenant}/...` (MQTT 5 §4.8.2),
 * which aedes 1.2.0 does not implement. A member's own subscription stays
 * under its `$share/...` name, which no published topic matches, so aedes
 * delivers nothing through it, keeps it apart from a plain subscription to
 * the same filter, sends no retained messages for it and queues nothing for
 * it while the member is offline. The group instead holds one subscription
 * of its own to the shared filter: each message reaches it once and goes to
 * exactly one member, round robin among the members that are connected and
 * whose grants let them receive it, through the member's own delivery path
 * (its QoS, its authorizeForward; a persistent member's session keeps a
 * QoS 1 message it has not acknowledged, as for any subscription). A member
 * that leaves or drops off is skipped from the next message on, so the
 * group's stream re-spreads over those that remain. Groups are keyed by name and filter; the filter names
 * the tenant, so groups of two tenants never meet. In cluster mode the group
 * takes its messages from the bus instead of the broker (ShareSource), which
 * gives each message to one node's group.
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { parseSharedFilter } from './topics.ts';

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void;

interface Member {
  readonly client: Client;
  qos: number;
}

interface Group {
  readonly name: string;
  readonly filter: string;
  readonly members: Member[];
  /** Index of the member to try first for the next message. */
  next: number;
  readonly handler: Deliver;
}

/**
 * Where a group takes its messages from: by default the broker (every
 * message of the filter in this process); in cluster mode the bus, which
 * hands each message to one node's group (cluster/bus-shares.ts).
 */
export interface ShareSource {
  subscribe(group: string, filter: string, deliver: Deliver): void;
  unsubscribe(group: string, filter: string): void;
}

/** Whether the member may be handed this message now (connected, within its grants). */
export type MayReceive = (client: Client, packet: AedesPublishPacket) => boolean;

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  private broker: Aedes | undefined;
  private source: ShareSource | undefined;

  constructor(private readonly mayReceive: MayReceive) {}

  /** Groups made from now on take their messages from `source` instead of the broker. */
  useSource(source: ShareSource): void {
    this.source = source;
  }

  /** Follows the broker's unsubscriptions and disconnections. */
  attach(broker: Aedes): void {
    this.broker = broker;
    broker.on('unsubscribe', (topics: string[], client: Client) => {
      for (const topic of topics) {
        const shared = parseSharedFilter(topic);
        if (shared) this.leave(client, shared.group, shared.filter);
      }
    });
    broker.on('clientDisconnect', (client: Client) => this.leaveAll(client));
  }

  /** Adds (or updates the QoS of) a member; called once its `$share` filter is authorized. */
  join(client: Client, group: string, filter: string, qos: number): void {
    const key = groupKey(group, filter);
    let g = this.groups.get(key);
    if (!g) {
      const created: Group = { name: group, filter, members: [], next: 0, handler: (packet, cb) => this.deliver(created, packet, cb) };
      g = created;
      this.groups.set(key, g);
      if (this.source) this.source.subscribe(group, filter, g.handler);
      else this.broker?.subscribe(filter, g.handler, () => undefined);
    }
    const member = g.members.find((m) => m.client === client);
    if (member) member.qos = qos;
    else g.members.push({ client, qos });
  }

  leave(client: Client, group: string, filter: string): void {
    const key = groupKey(group, filter);
    const g = this.groups.get(key);
    if (!g) return;
    const at = g.members.findIndex((m) => m.client === client);
    if (at < 0) return;
    g.members.splice(at, 1);
    if (at < g.next) g.next -= 1;
    if (g.members.length > 0) return;
    this.groups.delete(key);
    if (this.source) this.source.unsubscribe(g.name, g.filter);
    else this.broker?.unsubscribe(g.filter, g.handler, () => undefined);
  }

  leaveAll(client: Client): void {
    for (const [key, g] of [...this.groups]) {
      if (g.members.some((m) => m.client === client)) this.leave(client, JSON.parse(key)[0] as string, g.filter);
    }
  }

  /** Members of a group, for tests and diagnostics. */
  size(group: string, filter: string): number {
    return this.groups.get(groupKey(group, filter))?.members.length ?? 0;
  }

  private deliver(g: Group, packet: AedesPublishPacket, cb: () => void): void {
    const n = g.members.length;
    for (let i = 0; i < n; i++) {
      const at = (g.next + i) % n;
      const member = g.members[at]!;
      if (member.client.closed || !this.mayReceive(member.client, packet)) continue;
      g.next = (at + 1) % n;
      // As aedes delivers to a subscription: a copy, retain cleared [MQTT-3.3.1-9], the member's QoS at most.
      const copy = { ...packet, retain: false } as AedesPublishPacket;
      const client = member.client as unknown as { deliver0: Deliver; publish: Deliver };
      // At QoS 1, Client.publish first records the message in a persistent member's session (its
      // outgoing queue), as aedes does for its own subscriptions, so an unacknowledged message is
      // sent again when that member comes back [MQTT-4.4.0-1]; a clean member gets it at once.
      if (member.qos > 0) client.publish(copy, cb);
      else client.deliver0(copy, cb);
      return;
    }
    // No member may take it now: a shared subscription has no offline queue.
    cb();
  }
}

function groupKey(group: string, filter: string): string {
  return JSON.stringify([group, filter]);
}
