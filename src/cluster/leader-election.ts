/**
 * One leader among the nodes, for the cluster-wide jobs (retention sweeps,
 * scheduled backups). The leader is whoever holds a session-level advisory
 * lock on its own dedicated PostgreSQL session; PostgreSQL releases the lock
 * the moment that session ends (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS),
 * whether the process died, was killed, or its backend was terminated.
 *
 * Every heartbeat a follower tries pg_try_advisory_lock and the leader
 * checks its session with a query bounded by a heartbeat (or a third of the
 * member timeout, if longer): a session that
 * errors, ends or does not answer in time makes the node step down at once
 * (its jobs stop) before another node can take the lock. A leader cut off
 * from PostgreSQL without the session ending is dropped by PostgreSQL's TCP
 * keepalives, set on the session to about one member timeout.
 */
import pg from 'pg';
import { Listeners } from './cluster-runtime.ts';

/** Advisory lock key of the job leader ("tiqldr" in ASCII); other keys of the gateway differ. */
export const LEADER_LOCK = '127996223317106';

export interface LeaderLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface LeaderElectionOptions {
  readonly connectionString: string;
  readonly nodeId: string;
  readonly heartbeatMs: number;
  readonly memberTimeoutMs: number;
  readonly logger?: LeaderLogger;
  /** Another lock key (tests run several elections on one server). */
  readonly lockKey?: string;
}

export class LeaderElection {
  readonly #listeners = new Listeners<boolean>();
  #client: pg.Client | undefined;
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: LeaderElectionOptions) {}

  /** Makes the first attempt (a failure leaves this node a follower that retries), then retries every heartbeat. */
  async start(): Promise<void> {
    await this.tick();
    this.#timer = setInterval(() => void this.tick(), this.options.heartbeatMs);
    this.#timer.unref();
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  onLeadership(listener: (leader: boolean) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** One attempt (or check), never two at once. */
  tick(): Promise<void> {
    this.#attempt ??= this.#tick().finally(() => { this.#attempt = undefined; });
    return this.#attempt;
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    try {
      const client = this.#client ?? await this.#connect();
      if (this.#leader) {
        await this.#bounded(client.query('SELECT 1'), this.#checkMs);
        return;
      }
      const { rows } = await this.#bounded(client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [this.#key]), this.options.memberTimeoutMs);
      if (rows[0]?.locked && !this.#closed && this.#client === client) this.#set(true, 'acquired the leader lock');
    } catch (err) {
      this.#lost(`${(err as Error).message}`);
    }
  }

  /**
   * How long the leader's check may take: well within the member timeout,
   * after which PostgreSQL's keepalives may have dropped a silent session
   * and handed the lock to another node.
   */
  get #checkMs(): number {
    return Math.max(this.options.heartbeatMs, Math.floor(this.options.memberTimeoutMs / 3));
  }

  get #key(): string {
    return this.options.lockKey ?? LEADER_LOCK;
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: `thingiq-leader ${this.options.nodeId}`.slice(0, 63), keepAlive: true });
    // A terminated backend or a dropped connection: the lock is gone with the session, so are the jobs.
    client.on('error', (err) => { if (this.#client === client) this.#lost(err.message); });
    client.on('end', () => { if (this.#client === client) this.#lost('session ended'); });
    this.#client = client;
    await this.#bounded(client.connect(), this.options.memberTimeoutMs);
    // PostgreSQL drops a session whose peer vanished after about one member timeout, releasing the lock.
    const idle = Math.max(1, Math.round(this.options.memberTimeoutMs / 3000));
    await this.#bounded(client.query(`SET tcp_keepalives_idle = ${idle}; SET tcp_keepalives_interval = ${idle}; SET tcp_keepalives_count = 2`), this.options.memberTimeoutMs);
    return client;
  }

  /** A session that does not answer in time is treated as lost: for a leader, the lock may be someone else's by now. */
  #bounded<T>(work: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  #lost(reason: string): void {
    const client = this.#client;
    this.#client = undefined;
    client?.removeAllListeners('end');
    client?.on('error', () => undefined);
    client?.end().catch(() => undefined);
    if (this.#leader) this.#set(false, `lost the leader session: ${reason}`);
  }

  #set(leader: boolean, why: string): void {
    this.#leader = leader;
    const log = this.options.logger;
    if (leader) log?.info({ event: 'cluster_leader', nodeId: this.options.nodeId, leader }, `this node is the cluster leader: ${why}`);
    else log?.warn({ event: 'cluster_leader', nodeId: this.options.nodeId, leader, reason: why }, 'this node is no longer the cluster leader; its cluster-wide jobs stop');
    this.#listeners.emit(leader, (err) => log?.warn({ event: 'cluster_listener_failed', reason: (err as Error).message }, 'a leadership listener failed'));
  }

  /** Steps down (jobs stop first), then releases the lock by ending the session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#attempt;
    const client = this.#client;
    this.#client = undefined;
    if (this.#leader) this.#set(false, 'closing');
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
