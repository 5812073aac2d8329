/**
 * This node's connection to NATS, kept for as long as the gateway runs: the
 * first connection is retried in the background (the gateway starts and
 * ingests without NATS), the client reconnects forever after a loss, and a
 * connection that closes anyway is dialled again. Every error is logged and
 * absorbed here; none reaches the process as an unhandled `error`.
 * Subscriptions are kept by subject and survive reconnections.
 */
import { connect, ErrorCode as NatsErrorCode, Events, type ConnectionOptions, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../log.ts';

export interface NatsLinkOptions {
  readonly servers: readonly string[];
  /** The connection's name as NATS monitoring shows it. */
  readonly name: string;
  readonly tls?: { readonly caFile: string; readonly certFile?: string | undefined; readonly keyFile?: string | undefined } | undefined;
  readonly token?: string | undefined;
  /** Messages this connection publishes come back to its own subscriptions (default: no, noEcho). */
  readonly echo?: boolean;
  /** Pause between connection attempts. */
  readonly reconnectWaitMs: number;
  readonly log: Logger;
  /** Connected (first time or again): subscriptions are in place, publishes go out. */
  readonly onUp: (again: boolean) => void;
  readonly onDown: () => void;
}

export type PublishOutcome = 'sent' | 'down' | 'too-large' | 'failed';
export type MessageHandler = (subject: string, data: Uint8Array) => void;

interface Entry {
  readonly subject: string;
  /** A NATS queue group: each message goes to one subscriber of the group among all connections. */
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  sub: Subscription | undefined;
}

export class NatsLink {
  private nc: NatsConnection | undefined;
  private up = false;
  private everUp = false;
  private closing = false;
  private retry: NodeJS.Timeout | undefined;
  private failedDials = 0;
  private readonly subs = new Map<string, Entry>();

  constructor(private readonly opts: NatsLinkOptions) {}

  start(): void {
    void this.dial();
  }

  /** Whether a publish now reaches the NATS server's socket (not the client's reconnect buffer, which is discarded). */
  get isUp(): boolean {
    const protocol = (this.nc as unknown as { protocol?: { connected?: boolean } } | undefined)?.protocol;
    return this.up && protocol?.connected !== false;
  }

  subscribe(subject: string, handler: MessageHandler, queue?: string): void {
    const key = queue === undefined ? subject : `${subject} ${queue}`;
    if (this.subs.has(key)) return;
    const entry: Entry = { subject, queue, handler, sub: undefined };
    this.subs.set(key, entry);
    if (this.nc) entry.sub = this.subscribeNow(this.nc, entry);
  }

  unsubscribe(subject: string, queue?: string): void {
    const key = queue === undefined ? subject : `${subject} ${queue}`;
    const entry = this.subs.get(key);
    if (!entry) return;
    this.subs.delete(key);
    try {
      entry.sub?.unsubscribe();
    } catch (err) {
      this.opts.log.warn({ event: 'bus_unsubscribe_failed', subject, reason: (err as Error).message }, 'cluster bus: unsubscribe failed');
    }
  }

  /** Subjects subscribed now (tests and diagnostics). */
  subjects(): string[] {
    return [...this.subs.keys()];
  }

  publish(subject: string, data: Uint8Array): PublishOutcome {
    if (!this.nc || !this.isUp) return 'down';
    try {
      this.nc.publish(subject, data);
      return 'sent';
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === NatsErrorCode.MaxPayloadExceeded) return 'too-large';
      this.opts.log.warn({ event: 'bus_publish_failed', reason: (err as Error).message, code }, 'cluster bus: publish failed');
      return 'failed';
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) clearTimeout(this.retry);
    const nc = this.nc;
    this.nc = undefined;
    this.setUp(false);
    if (!nc || nc.isClosed()) return;
    // What is buffered goes out (bounded: a dead server must not hold the shutdown).
    if (this.isConnectedNow(nc)) await Promise.race([nc.flush(), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined);
    await nc.close().catch((err: unknown) => this.opts.log.warn({ event: 'bus_close_failed', reason: (err as Error).message }, 'cluster bus: close failed'));
  }

  private isConnectedNow(nc: NatsConnection): boolean {
    return (nc as unknown as { protocol?: { connected?: boolean } }).protocol?.connected === true;
  }

  private async dial(): Promise<void> {
    if (this.closing) return;
    const { opts } = this;
    const options: ConnectionOptions = {
      servers: [...opts.servers], name: opts.name,
      // A node never receives its own messages back: local subscribers already had them (local delivery first).
      noEcho: opts.echo !== true,
      maxReconnectAttempts: -1, reconnectTimeWait: opts.reconnectWaitMs, reconnectJitter: Math.min(100, opts.reconnectWaitMs),
      ...(opts.tls ? { tls: { caFile: opts.tls.caFile, ...(opts.tls.certFile ? { certFile: opts.tls.certFile } : {}), ...(opts.tls.keyFile ? { keyFile: opts.tls.keyFile } : {}) } } : {}),
      ...(opts.token ? { token: opts.token } : {}),
    };
    let nc: NatsConnection;
    try {
      nc = await connect(options);
    } catch (err) {
      if (!this.closing) {
        // Said once at warn level, then every 60th attempt: an outage at start must not flood the log.
        const level = this.failedDials++ % 60 === 0 ? 'warn' : 'debug';
        opts.log[level]({ event: 'bus_connect_failed', code: (err as { code?: string }).code, reason: (err as Error).message, attempts: this.failedDials }, 'cluster bus: cannot reach NATS; retrying (live fan-out to other nodes waits)');
        this.retry = setTimeout(() => void this.dial(), opts.reconnectWaitMs);
      }
      return;
    }
    if (this.closing) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.nc = nc;
    this.failedDials = 0;
    for (const entry of this.subs.values()) entry.sub = this.subscribeNow(nc, entry);
    this.watch(nc);
    opts.log.info({ event: 'bus_connected', server: nc.getServer() }, 'cluster bus connected to NATS');
    this.setUp(true);
  }

  private subscribeNow(nc: NatsConnection, { subject, queue, handler }: Entry): Subscription | undefined {
    try {
      return nc.subscribe(subject, {
        ...(queue === undefined ? {} : { queue }),
        callback: (err, msg) => {
          if (err) {
            this.opts.log.warn({ event: 'bus_subscription_error', subject, code: err.code, reason: err.message }, 'cluster bus: subscription error');
            return;
          }
          try {
            handler(msg.subject, msg.data);
          } catch (e) {
            this.opts.log.error({ event: 'bus_delivery_failed', subject, reason: (e as Error).message }, 'cluster bus: delivering a message failed');
          }
        },
      });
    } catch (err) {
      this.opts.log.warn({ event: 'bus_subscribe_failed', subject, reason: (err as Error).message }, 'cluster bus: subscribe failed');
      return undefined;
    }
  }

  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.opts.log.warn({ event: 'bus_disconnected', server: String(s.data) }, 'cluster bus lost NATS; reconnecting (messages for other nodes are held, bounded)');
          this.setUp(false);
        } else if (s.type === Events.Reconnect) {
          this.opts.log.info({ event: 'bus_reconnected', server: String(s.data) }, 'cluster bus reconnected to NATS');
          this.setUp(true);
        } else if (s.type === Events.Error) {
          this.opts.log.warn({ event: 'bus_error', reason: String(s.data) }, 'cluster bus: error from NATS');
        } else if (s.type === Events.LDM) {
          this.opts.log.info({ event: 'bus_server_lame_duck' }, 'cluster bus: NATS server entering lame duck mode');
        }
      }
    })().catch((err: unknown) => this.opts.log.warn({ event: 'bus_status_failed', reason: (err as Error).message }, 'cluster bus: status stream failed'));
    void nc.closed().then((err) => {
      if (this.closing || this.nc !== nc) return;
      // Closed although we reconnect forever (an authorization error, say): start over.
      this.opts.log.error({ event: 'bus_closed', reason: err?.message }, 'cluster bus connection closed; dialling again');
      this.nc = undefined;
      for (const entry of this.subs.values()) entry.sub = undefined;
      this.setUp(false);
      this.retry = setTimeout(() => void this.dial(), this.opts.reconnectWaitMs);
    });
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    if (!up) return this.opts.onDown();
    this.opts.onUp(this.everUp);
    this.everUp = true;
  }
}
