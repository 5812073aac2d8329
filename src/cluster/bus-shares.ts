/**
 * Shared subscriptions across nodes (docs/operations.md, "The cluster
 * bus"): each group `$share/{g}/{filter}` holds one NATS queue subscription
 * to its tenant's subjects, in a queue named after the group and filter, so
 * NATS hands each message to exactly one node with members of the group,
 * and that node's group hands it to one of its members
 * (broker/shared-subscriptions.ts). The subscriptions live on a second
 * connection with echo on: a message published by this node may be given to
 * this node's own members. While NATS cannot take a message, the
 * publishing node gives it to its own groups at once and marks it so that
 * no node's group takes it again when it is sent later.
 */
import { createHash } from 'node:crypto';
import { tenantOfFilter, tenantSubject, topicMatches } from './bus-codec.ts';
import { NatsLink, type NatsLinkOptions } from './nats-link.ts';

export type ShareDeliver = (packet: ShareablePacket, cb: () => void) => void;

export interface ShareablePacket {
  readonly topic: string;
  readonly payload: Buffer;
  readonly [key: string]: unknown;
}

interface Group {
  readonly filter: string;
  readonly subject: string;
  readonly queue: string;
  readonly deliver: ShareDeliver;
}

export interface BusSharesOptions extends Omit<NatsLinkOptions, 'onUp' | 'onDown' | 'echo'> {
  readonly subjectPrefix: string;
  /** Turns received bytes into the packet aedes expects; undefined when refused (counted and logged by the caller). */
  readonly toPacket: (subject: string, data: Uint8Array) => { packet: ShareablePacket; sharesDone: boolean } | undefined;
}

export class BusShares {
  private link: NatsLink | undefined;
  private readonly groups = new Map<string, Group>();

  constructor(private readonly opts: BusSharesOptions) {}

  /** The group's one handler on this node (SharedSubscriptions keeps its members). */
  subscribe(group: string, filter: string, deliver: ShareDeliver): void {
    const tenant = tenantOfFilter(filter);
    const key = groupKey(group, filter);
    if (tenant === undefined || this.groups.has(key)) return;
    const g: Group = { filter, subject: tenantSubject(this.opts.subjectPrefix, tenant), queue: queueName(this.opts.subjectPrefix, key), deliver };
    this.groups.set(key, g);
    this.connection().subscribe(g.subject, (subject, data) => this.fromBus(g, subject, data), g.queue);
  }

  unsubscribe(group: string, filter: string): void {
    const key = groupKey(group, filter);
    const g = this.groups.get(key);
    if (!g) return;
    this.groups.delete(key);
    this.link?.unsubscribe(g.subject, g.queue);
  }

  /** Gives a message the bus cannot take now to this node's groups; true when a group took it. */
  deliverHere(packet: ShareablePacket): boolean {
    let any = false;
    for (const g of this.groups.values()) {
      if (!topicMatches(g.filter, packet.topic)) continue;
      g.deliver(packet, () => undefined);
      any = true;
    }
    return any;
  }

  get size(): number {
    return this.groups.size;
  }

  async close(): Promise<void> {
    this.groups.clear();
    await this.link?.close();
  }

  private connection(): NatsLink {
    if (!this.link) {
      // Opened with the first group, kept until the gateway closes.
      this.link = new NatsLink({ ...this.opts, name: `${this.opts.name}-shares`, echo: true, onUp: () => undefined, onDown: () => undefined });
      this.link.start();
    }
    return this.link;
  }

  private fromBus(g: Group, subject: string, data: Uint8Array): void {
    const got = this.opts.toPacket(subject, data);
    if (!got || got.sharesDone || !topicMatches(g.filter, got.packet.topic)) return;
    g.deliver(got.packet, () => undefined);
  }
}

function groupKey(group: string, filter: string): string {
  return JSON.stringify([group, filter]);
}

/** The same on every node for the same group and filter; a NATS token. */
function queueName(prefix: string, key: string): string {
  return `${prefix}-share-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}
