/**
 * The membership table on PostgreSQL: one row per node, its heartbeat set
 * from PostgreSQL's clock (nodes' clocks may differ; the database's is the
 * one they share). A node is live while its heartbeat is younger than
 * `memberTimeoutMs`. The count is re-read after every heartbeat and pushed
 * to listeners when it changes. A clean shutdown deletes the row, so the
 * others see one node fewer at their next heartbeat rather than after the
 * timeout.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Listeners, type ClusterMember } from './cluster-runtime.ts';
import { inTransaction } from '../control/pg-transaction.ts';

/** Advisory lock key of the schema creation ("tiqmbr" in ASCII): CREATE TABLE IF NOT EXISTS races otherwise. */
const SCHEMA_LOCK = '127996223382130';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cluster_members (
  node_id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  instance TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL
);`;

export interface MembershipLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface MembershipOptions {
  readonly connectionString: string;
  readonly nodeId: string;
  readonly heartbeatMs: number;
  readonly memberTimeoutMs: number;
  readonly logger?: MembershipLogger;
  readonly host?: string;
  readonly pid?: number;
}

interface Row { node_id: string; host: string; pid: number; started_at: Date; heartbeat_at: Date; live: boolean }

export class Membership {
  readonly #pool: pg.Pool;
  readonly #listeners = new Listeners<number>();
  /** Tells this process's row from an earlier one with the same node id (a restart within the timeout). */
  readonly #instance = randomBytes(8).toString('hex');
  #live = 1;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #closed = false;
  #failing = false;

  private constructor(private readonly options: MembershipOptions) {
    this.#pool = new pg.Pool({ connectionString: options.connectionString, max: 2, connectionTimeoutMillis: Math.max(1000, options.heartbeatMs),
      // A query that hangs (PostgreSQL unreachable without a reset) fails instead of holding heartbeats or the shutdown.
      query_timeout: Math.max(1000, options.memberTimeoutMs), application_name: 'thingiq-cluster-members' });
    // An idle client losing its connection must not crash the process; the next heartbeat reports it.
    this.#pool.on('error', () => undefined);
  }

  /** Creates the table if needed, joins (first heartbeat), and keeps beating every heartbeatMs. */
  static async join(options: MembershipOptions): Promise<Membership> {
    const m = new Membership(options);
    try {
      await inTransaction(m.#pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      });
      await m.#heartbeat(true);
    } catch (err) {
      await m.#pool.end().catch(() => undefined);
      throw err;
    }
    m.#timer = setInterval(() => { m.#beating ??= m.#heartbeat(false).catch(() => undefined).finally(() => { m.#beating = undefined; }); }, options.heartbeatMs);
    m.#timer.unref();
    return m;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Live nodes counting this one, as of the last heartbeat (kept while PostgreSQL cannot be reached). */
  get liveNodes(): number {
    return this.#live;
  }

  onChange(listener: (liveNodes: number) => void): () => void {
    return this.#listeners.add(listener);
  }

  async #heartbeat(first: boolean): Promise<void> {
    if (this.#closed) return;
    const o = this.options;
    try {
      const joined = await this.#pool.query<{ replaced: string | null }>(`
        WITH old AS (SELECT instance FROM cluster_members WHERE node_id = $1
                       AND heartbeat_at > clock_timestamp() - make_interval(secs => $5::double precision / 1000))
        INSERT INTO cluster_members (node_id, host, pid, instance, started_at, heartbeat_at)
        VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp())
        ON CONFLICT (node_id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, heartbeat_at = clock_timestamp(),
          instance = EXCLUDED.instance,
          started_at = CASE WHEN cluster_members.instance = EXCLUDED.instance THEN cluster_members.started_at ELSE EXCLUDED.started_at END
        RETURNING (SELECT instance FROM old) AS replaced`,
      [o.nodeId, o.host ?? hostname(), o.pid ?? process.pid, this.#instance, o.memberTimeoutMs]);
      const replaced = joined.rows[0]?.replaced;
      if (replaced && replaced !== this.#instance) {
        o.logger?.warn({ event: 'cluster_node_id_in_use', nodeId: o.nodeId }, 'another live process had this node id (a restart, or two nodes configured with one id); this process took its row');
      }
      const counted = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM cluster_members
        WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $1::double precision / 1000)`, [o.memberTimeoutMs]);
      // Rows of nodes dead for ten timeouts go; younger ones stay listed (live: false) for operators.
      await this.#pool.query(`DELETE FROM cluster_members WHERE heartbeat_at < clock_timestamp() - make_interval(secs => $1::double precision / 1000)`, [o.memberTimeoutMs * 10]);
      if (this.#failing) o.logger?.info({ event: 'cluster_heartbeat_restored', nodeId: o.nodeId }, 'cluster heartbeat restored');
      this.#failing = false;
      this.#set(Math.max(1, Number(counted.rows[0]?.n ?? 1)), first);
    } catch (err) {
      if (first) throw err;
      if (!this.#failing) o.logger?.warn({ event: 'cluster_heartbeat_failed', code: 'TIQ_ERR_CONTROL_STORE', reason: (err as Error).message }, 'cannot renew this node\'s membership; the live-node count stays as last read');
      this.#failing = true;
    }
  }

  #set(live: number, first: boolean): void {
    if (live === this.#live && !first) return;
    const was = this.#live;
    this.#live = live;
    this.options.logger?.info({ event: 'cluster_membership', nodeId: this.options.nodeId, liveNodes: live, was }, `live cluster nodes: ${live}`);
    this.#listeners.emit(live, (err) => this.options.logger?.warn({ event: 'cluster_listener_failed', reason: (err as Error).message }, 'a membership listener failed'));
  }

  /** Every row, live or recently dead, oldest member first. */
  async members(): Promise<ClusterMember[]> {
    const { rows } = await this.#pool.query<Row>(`SELECT node_id, host, pid, started_at, heartbeat_at,
      heartbeat_at > clock_timestamp() - make_interval(secs => $1::double precision / 1000) AS live
      FROM cluster_members ORDER BY started_at, node_id`, [this.options.memberTimeoutMs]);
    return rows.map((r) => ({ nodeId: r.node_id, host: r.host, pid: Number(r.pid), startedAt: r.started_at.toISOString(), heartbeatAt: r.heartbeat_at.toISOString(), live: r.live }));
  }

  /** Stops beating and deletes this node's row (only this process's: a successor's row with the same id stays). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#beating;
    try {
      await this.#pool.query('DELETE FROM cluster_members WHERE node_id = $1 AND instance = $2', [this.options.nodeId, this.#instance]);
    } catch (err) {
      this.options.logger?.warn({ event: 'cluster_leave_failed', reason: (err as Error).message }, 'cannot remove this node\'s membership row; it expires after cluster.memberTimeoutMs');
    }
    await this.#pool.end().catch(() => undefined);
  }
}
