/**
 * An mqemitter for aedes (`createBroker({ mq })`) that fans messages out to
 * the other gateway processes over NATS (docs/operations.md, "The cluster
 * bus").
 *
 * emit: local subscribers first, through an in-process mqemitter, and the
 * caller's callback (aedes's PUBACK path) waits for them only; then, if the
 * message may leave the node, one NATS publish, never awaited. So a node's
 * own subscribers and wills never depend on the bus, and live fan-out across
 * nodes is at most once. While NATS is unreachable messages for the bus are
 * held in a bounded queue (oldest dropped first, counted) and sent on
 * reconnection.
 *
 * Interest: a node subscribes to `<prefix>.<tenant>.>` while it holds at
 * least one local subscription under `tenants/<tenant>/`, and to the control
 * subjects always. A message from NATS goes to local subscribers only; the
 * connection has noEcho, so nothing a node sent comes back to it.
 * Shared-subscription groups take their messages from NATS queue groups
 * instead (bus-shares.ts).
 */
import mqemitter from 'mqemitter';
import type { Registry } from 'prom-client';
import { BusMetrics } from './bus-metrics.ts';
import {
  aedesPacketOf, busPacketOf, controlSubject, decodePacket, encodePacket, markSharesDone, subjectOf, tenantOfFilter, tenantSubject,
  topicMatchesSubject, type BusPacket, type EmittedPacket,
} from './bus-codec.ts';
import { BusShares } from './bus-shares.ts';
import { NatsLink, type NatsLinkOptions } from './nats-link.ts';
import { PendingQueue } from './pending-queue.ts';

export type { EmittedPacket } from './bus-codec.ts';

type Listener = (packet: EmittedPacket, done: () => void) => void;
type Callback = (err?: Error) => void;

export interface NatsEmitterOptions extends Pick<NatsLinkOptions, 'servers' | 'name' | 'tls' | 'token' | 'log'> {
  readonly subjectPrefix: string;
  readonly maxPendingMessages: number;
  readonly registry: Registry;
  /** aedes's `concurrency` for the in-process emitter (default 100, as aedes). */
  readonly concurrency?: number;
  readonly reconnectWaitMs?: number;
  /** false: the message stays on this node (a publish the gateway acknowledged but does not forward). */
  readonly mayLeave?: (packet: EmittedPacket) => boolean;
  /** Sees each message from another node before local delivery; false: not delivered here (consumed). */
  readonly fromRemote?: (packet: EmittedPacket) => boolean;
}

interface Held {
  readonly subject: string;
  readonly data: Buffer;
}

export class NatsEmitter {
  private readonly local: mqemitter.MQEmitter;
  private readonly link: NatsLink;
  readonly metrics: BusMetrics;
  /** Shared-subscription groups, one NATS queue group each (bus-shares.ts). */
  readonly shares: BusShares;
  private readonly held: PendingQueue<Held>;
  /** Local registrations by filter and listener, so a removal matches an addition (as qlobber's removal does). */
  private readonly registrations = new Map<string, Map<Listener, number>>();
  private readonly tenantCounts = new Map<string, number>();
  private closed = false;
  private readonly controlPrefix: string;
  /** Set from (re)connection until the held messages are sent: new ones queue behind them. */
  private settling: NodeJS.Timeout | undefined;

  constructor(private readonly opts: NatsEmitterOptions) {
    this.controlPrefix = controlSubject(opts.subjectPrefix).slice(0, -1);
    this.local = mqemitter({ concurrency: opts.concurrency ?? 100, matchEmptyLevels: true }); // [MQTT-4.7.1-3], as aedes
    this.metrics = new BusMetrics(opts.registry);
    this.held = new PendingQueue(opts.maxPendingMessages);
    this.link = new NatsLink({
      servers: opts.servers, name: opts.name, tls: opts.tls, token: opts.token, log: opts.log,
      reconnectWaitMs: opts.reconnectWaitMs ?? 500,
      onUp: (again) => {
        this.metrics.connected.set(1);
        if (again) this.metrics.reconnect();
        // The other nodes reconnect about now too: held messages wait until their subscriptions are back.
        this.settling = setTimeout(() => this.flushHeld(), 2 * (opts.reconnectWaitMs ?? 500));
      },
      onDown: () => {
        this.metrics.connected.set(0);
        if (this.settling) clearTimeout(this.settling);
        this.settling = undefined;
      },
    });
    this.shares = new BusShares({
      servers: opts.servers, name: opts.name, tls: opts.tls, token: opts.token, log: opts.log, reconnectWaitMs: opts.reconnectWaitMs ?? 500,
      subjectPrefix: opts.subjectPrefix, toPacket: (subject, data) => this.decodeRemote(subject, data),
    });
    this.link.subscribe(controlSubject(opts.subjectPrefix), (subject, data) => this.fromBus(subject, data));
    this.link.start();
  }

  /** mqemitter's fields aedes may read. */
  get concurrency(): number {
    return (this.local as unknown as { concurrency: number }).concurrency;
  }

  get current(): number {
    return this.local.current;
  }

  get connected(): boolean {
    return this.link.isUp;
  }

  /** Tenants whose subjects this node subscribes to now. */
  tenants(): string[] {
    return [...this.tenantCounts.keys()];
  }

  on(topic: string, listener: Listener, done?: () => void): this {
    this.local.on(topic, listener as never, done);
    const byListener = this.registrations.get(topic) ?? new Map<Listener, number>();
    byListener.set(listener, (byListener.get(listener) ?? 0) + 1);
    this.registrations.set(topic, byListener);
    const tenant = tenantOfFilter(topic);
    if (tenant !== undefined) this.addInterest(tenant);
    return this;
  }

  removeListener(topic: string, listener: Listener, done?: () => void): this {
    this.local.removeListener(topic, listener as never, done);
    const byListener = this.registrations.get(topic);
    const n = byListener?.get(listener);
    if (!byListener || n === undefined) return this;
    if (n > 1) byListener.set(listener, n - 1);
    else byListener.delete(listener);
    if (byListener.size === 0) this.registrations.delete(topic);
    const tenant = tenantOfFilter(topic);
    if (tenant !== undefined) this.removeInterest(tenant);
    return this;
  }

  emit(packet: EmittedPacket, cb?: Callback): this {
    this.local.emit(packet, cb);
    if (!this.closed && (this.opts.mayLeave?.(packet) ?? true)) this.toBus(packet);
    return this;
  }

  close(cb: () => void): void {
    if (this.closed) return void setImmediate(cb);
    this.closed = true;
    if (this.settling) clearTimeout(this.settling);
    this.metrics.drop('closed', this.held.length);
    this.held.drain();
    this.metrics.pending.set(0);
    this.local.close(() => {
      Promise.all([this.link.close(), this.shares.close()]).then(() => cb(), (err: unknown) => {
        this.opts.log.warn({ event: 'bus_close_failed', reason: (err as Error).message }, 'cluster bus: close failed');
        cb();
      });
    });
  }

  private addInterest(tenant: string): void {
    const n = (this.tenantCounts.get(tenant) ?? 0) + 1;
    this.tenantCounts.set(tenant, n);
    if (n > 1) return;
    this.link.subscribe(tenantSubject(this.opts.subjectPrefix, tenant), (subject, data) => this.fromBus(subject, data));
    this.metrics.tenants.set(this.tenantCounts.size);
  }

  private removeInterest(tenant: string): void {
    const n = (this.tenantCounts.get(tenant) ?? 0) - 1;
    if (n > 0) return void this.tenantCounts.set(tenant, n);
    this.tenantCounts.delete(tenant);
    this.link.unsubscribe(tenantSubject(this.opts.subjectPrefix, tenant));
    this.metrics.tenants.set(this.tenantCounts.size);
  }

  private toBus(packet: EmittedPacket): void {
    const subject = subjectOf(this.opts.subjectPrefix, packet.topic);
    if (subject === undefined) return;
    let data: Buffer;
    try {
      data = encodePacket(busPacketOf(packet));
    } catch {
      return this.metrics.drop('too-large');
    }
    if (subject.startsWith(this.controlPrefix)) return this.sendControl({ subject, data });
    if (this.held.length > 0 || this.settling || !this.link.isUp) {
      // This node's shared-subscription groups get it now; no group takes it again when it is sent later.
      if (this.shares.size > 0 && this.shares.deliverHere(packet)) markSharesDone(data);
      return this.hold({ subject, data });
    }
    this.send({ subject, data });
  }

  /**
   * A takeover notice is worth sending only now: held through an outage it
   * could close a session that started after it. Not held, not queued
   * behind held messages (their order does not matter to it).
   */
  private sendControl(m: Held): void {
    const outcome = this.link.publish(m.subject, m.data);
    if (outcome === 'sent') this.metrics.publish();
    else this.metrics.drop(outcome === 'down' ? 'outage' : outcome === 'too-large' ? 'too-large' : 'publish-failed');
  }

  private send(m: Held): void {
    const outcome = this.link.publish(m.subject, m.data);
    if (outcome === 'sent') this.metrics.publish();
    else if (outcome === 'down') this.hold(m);
    else this.metrics.drop(outcome === 'too-large' ? 'too-large' : 'publish-failed');
  }

  private hold(m: Held): void {
    this.metrics.drop('overflow', this.held.push(m));
    this.metrics.pending.set(this.held.length);
  }

  /** In order, oldest first, once NATS is back; what cannot go out now is held again. */
  private flushHeld(): void {
    this.settling = undefined;
    const all = this.held.drain();
    this.metrics.pending.set(0);
    for (const m of all) this.send(m);
  }

  private fromBus(subject: string, data: Uint8Array): void {
    const got = this.decodeRemote(subject, data);
    if (!got) return;
    if (this.opts.fromRemote && !this.opts.fromRemote(got.packet)) return;
    // Local delivery is behind (slow subscribers): live data from other nodes is shed rather than queued without bound.
    if ((this.local as unknown as { length: number }).length >= Math.max(this.opts.maxPendingMessages, 1000)) return this.metrics.drop('backlog');
    this.metrics.receive();
    this.local.emit(got.packet);
  }

  /** A message from another node as aedes emits one; undefined (counted, logged) when refused. */
  private decodeRemote(subject: string, data: Uint8Array): { packet: EmittedPacket; sharesDone: boolean } | undefined {
    if (this.closed) return undefined;
    let p: BusPacket;
    try {
      p = decodePacket(data);
    } catch {
      return this.refuse(subject, 'undecodable');
    }
    if (!topicMatchesSubject(this.opts.subjectPrefix, subject, p.topic)) return this.refuse(subject, 'topic outside its subject');
    return { packet: aedesPacketOf(p), sharesDone: p.sharesDone === true };
  }

  private refuse(subject: string, reason: string): undefined {
    this.metrics.drop('malformed');
    this.opts.log.warn({ event: 'bus_message_refused', subject, reason }, 'cluster bus: message from NATS refused');
    return undefined;
  }
}
