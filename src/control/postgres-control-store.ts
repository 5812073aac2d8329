/**
 * The control store on PostgreSQL, shared by every gateway process and the
 * CLI. A write appends its change rows, updates the state and sends
 * NOTIFY in one transaction (a notification is delivered only if the
 * transaction commits: https://www.postgresql.org/docs/current/sql-notify.html).
 * Writers take one transaction-scoped advisory lock, so versions commit in
 * version order and "everything after version N" never skips a row that
 * commits later. Each store LISTENs on a dedicated connection; after that
 * connection drops it reconnects and catches up by version (notifications
 * sent meanwhile are lost), and a slow poll is the backstop for anything else.
 */
import pg from 'pg';
import { inTransaction } from './pg-transaction.ts';
import type { ChangeRow, ControlStoreLogger, ControlWrite } from './control-store.ts';
import { encodeValue } from './control-store.ts';
import { ReplicatedControlStore, type Snapshot } from './replica.ts';

export const CONTROL_CHANNEL = 'thingiq_control';
/** Advisory lock key of control-store writers and schema creation ("tiqctrl" in ASCII). */
const WRITE_LOCK = 0x746971637472;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS control_changes (
  version BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  actor TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_state (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (kind, key)
);
`;

export interface PostgresControlStoreOptions {
  readonly connectionString: string;
  /** Backstop poll (default 5000 ms); LISTEN/NOTIFY is the fast path. */
  readonly pollIntervalMs?: number;
  /** First reconnect delay of the LISTEN connection (default 200 ms, doubling up to 5 s). */
  readonly reconnectMs?: number;
  readonly poolSize?: number;
  readonly logger?: ControlStoreLogger;
}

export class PostgresControlStore extends ReplicatedControlStore {
  readonly backend = 'postgres' as const;
  #pool: pg.Pool;
  #listener: pg.Client | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reconnect: NodeJS.Timeout | undefined;

  private constructor(private readonly options: PostgresControlStoreOptions) {
    super(options.logger);
    this.#pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 4, connectionTimeoutMillis: 5000 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    this.#pool.on('error', () => undefined);
  }

  static async open(options: PostgresControlStoreOptions): Promise<PostgresControlStore> {
    const store = new PostgresControlStore(options);
    try {
      await store.transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
        await c.query(SCHEMA);
      });
      // LISTEN before the snapshot: a change committed in between is both notified and caught up, never lost.
      await store.listen();
      await store.loadSnapshot();
    } catch (err) {
      await store.close();
      throw err;
    }
    store.#poll = setInterval(() => store.catchUpLogged(), options.pollIntervalMs ?? 5000);
    store.#poll.unref();
    return store;
  }

  private transaction<T>(work: (c: pg.PoolClient) => Promise<T>, isolation = 'READ COMMITTED'): Promise<T> {
    return inTransaction(this.#pool, work, `BEGIN ISOLATION LEVEL ${isolation}`);
  }

  private catchUpLogged(): void {
    void this.catchUp().catch((err: unknown) => this.log?.warn({ event: 'control_catch_up_failed', code: 'TIQ_ERR_CONTROL_STORE', reason: (err as Error).message }, 'cannot read the control store; retrying'));
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: 'thingiq-control-listen' });
    client.on('notification', () => this.catchUpLogged());
    client.on('error', () => this.lostListener(client));
    client.on('end', () => this.lostListener(client));
    await client.connect();
    await client.query(`LISTEN ${CONTROL_CHANNEL}`);
    this.#listener = client;
  }

  private lostListener(client: pg.Client, delayMs = this.options.reconnectMs ?? 200): void {
    if (this.closed || this.#listener !== client) return;
    this.#listener = undefined;
    client.end().catch(() => undefined);
    this.log?.warn({ event: 'control_listen_lost', code: 'TIQ_ERR_CONTROL_STORE' }, 'control-store notifications lost; reconnecting');
    this.scheduleReconnect(delayMs);
  }

  private scheduleReconnect(delayMs: number): void {
    this.#reconnect = setTimeout(() => {
      this.listen().then(() => {
        this.log?.info({ event: 'control_listen_restored' }, 'control-store notifications restored; catching up');
        this.catchUpLogged();
      }, () => {
        if (!this.closed) this.scheduleReconnect(Math.min(delayMs * 2, 5000));
      });
    }, delayMs);
    this.#reconnect.unref();
  }

  protected async readSnapshot(): Promise<Snapshot> {
    return this.transaction(async (c) => {
      const v = await c.query<{ v: string }>('SELECT COALESCE(MAX(version), 0) AS v FROM control_changes');
      const rows = await c.query<{ kind: string; key: string; value: string }>('SELECT kind, key, value FROM control_state ORDER BY version');
      return { version: Number(v.rows[0]!.v), rows: rows.rows };
    }, 'REPEATABLE READ');
  }

  protected async readChanges(afterVersion: number, limit: number): Promise<ChangeRow[]> {
    const r = await this.#pool.query<ChangeRow>(
      'SELECT version, kind, key, value, actor, at_ms AS "atMs" FROM control_changes WHERE version > $1 ORDER BY version LIMIT $2', [afterVersion, limit]);
    return r.rows.map((row) => ({ ...row, version: Number(row.version), atMs: Number(row.atMs) }));
  }

  protected async commit(writes: readonly ControlWrite[], actor: string, atMs: number): Promise<number[]> {
    return this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      const versions: number[] = [];
      for (const w of writes) {
        const value = encodeValue(w.value);
        const r = await c.query<{ version: string }>('INSERT INTO control_changes (kind, key, value, actor, at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING version',
          [w.kind, w.key, value, actor, atMs]);
        const version = Number(r.rows[0]!.version);
        versions.push(version);
        if (value === null) await c.query('DELETE FROM control_state WHERE kind = $1 AND key = $2', [w.kind, w.key]);
        else {
          await c.query('INSERT INTO control_state (kind, key, value, version) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version',
            [w.kind, w.key, value, version]);
        }
      }
      await c.query('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, String(versions.at(-1))]);
      return versions;
    });
  }

  override async close(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    if (this.#reconnect) clearTimeout(this.#reconnect);
    await super.close();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
  }
}
