/**
 * The audit chain of a cluster in PostgreSQL: every node appends to one
 * hash chain (cluster-audit-entry.ts), so there is one history to verify
 * whichever node an action went through.
 *
 * An append takes a transaction-scoped advisory lock, reads the head, seals
 * its entries onto it, inserts them and moves the MACed head, then commits
 * (synchronous_commit on): two nodes never seal onto the same head, so the
 * chain cannot fork, and the lock is released by the commit or by the
 * session's end if the node dies. Entries queued in one turn of the event
 * loop go in one transaction (group commit), as the file log does with one fsync.
 */
import pg from 'pg';
import { AuditAggregator, type AggregationOptions } from '../audit/audit-aggregator.ts';
import { GENESIS_HASH, type AuditInput } from '../audit/audit-entry.ts';
import type { AuditQuery } from '../audit/audit-log.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { headMac, sealClusterEntry, type ChainHead, type ClusterAuditEntry } from '../audit/cluster-audit-entry.ts';
import type { Pseudonymizer } from '../audit/pseudonym.ts';
import { verifyAuditChain, type StoredHead } from '../audit/verify-audit-chain.ts';
import type { AuditVerification } from '../audit/verify-audit-log.ts';
import { TiqError } from '../errors.ts';
import { inTransaction } from '../control/pg-transaction.ts';
import { AUDIT_CHAIN_SCHEMA, auditRows, insertEntries, queryEntries } from './pg-audit-rows.ts';

/** Advisory lock key of chain appends ("tiqaud"). */
export const AUDIT_CHAIN_LOCK = 0x746971617564;

export interface PgAuditChainOptions {
  readonly connectionString: string;
  readonly node: string;
  /** MAC key of the chain, the same on every node. */
  readonly chainKey: Buffer;
  readonly pseudonyms: Pseudonymizer;
  readonly aggregation?: AggregationOptions;
  readonly now?: () => number;
}

interface Pending { readonly input: AuditInput; readonly resolve: (e: ClusterAuditEntry) => void; readonly reject: (err: unknown) => void }

export class PgAuditChain implements AuditTrail {
  readonly pseudonyms: Pseudonymizer;
  readonly aggregator: AuditAggregator;
  readonly #pool: pg.Pool;
  readonly #options: PgAuditChainOptions;
  readonly #now: () => number;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;

  private constructor(options: PgAuditChainOptions, pool: pg.Pool) {
    this.#options = options;
    this.#pool = pool;
    this.#now = options.now ?? Date.now;
    this.pseudonyms = options.pseudonyms;
    this.aggregator = new AuditAggregator((input) => this.commit(input), options.aggregation, this.#now);
  }

  static async open(options: PgAuditChainOptions): Promise<PgAuditChain> {
    const pool = new pg.Pool({ connectionString: options.connectionString, max: 2, connectionTimeoutMillis: 5000 });
    // An idle client losing its connection must not crash the process; the next append reports it.
    pool.on('error', () => undefined);
    const chain = new PgAuditChain(options, pool);
    try {
      await chain.#transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
        await c.query(AUDIT_CHAIN_SCHEMA);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new TiqError('TIQ_ERR_AUDIT', { reason: 'cannot open the shared audit chain', driverCode: (err as { code?: string }).code ?? 'unknown' }, { cause: err });
    }
    return chain;
  }

  get node(): string {
    return this.#options.node;
  }

  commit(input: AuditInput): Promise<ClusterAuditEntry> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      this.#flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        const sealed = await this.#append(batch.map((p) => p.input));
        batch.forEach((p, i) => p.resolve(sealed[i]!));
      } catch (err) {
        const e = err instanceof TiqError ? err : new TiqError('TIQ_ERR_AUDIT', { reason: 'shared audit chain unavailable', driverCode: (err as { code?: string }).code ?? 'unknown' }, { cause: err });
        for (const p of batch) p.reject(e);
      }
    }
    this.#flushing = undefined;
  }

  /** One transaction under the chain lock: head, seal, insert, new head. */
  #append(inputs: readonly AuditInput[]): Promise<ClusterAuditEntry[]> {
    const { chainKey, node } = this.#options;
    return this.#transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
      let head = await this.#currentHead(c);
      const time = new Date(this.#now()).toISOString();
      const sealed = inputs.map((input) => {
        const entry = sealClusterEntry(input, head.seq + 1, time, node, head.hash, chainKey);
        head = { seq: entry.seq, hash: entry.hash };
        return entry;
      });
      await insertEntries(c, sealed);
      await c.query(`INSERT INTO tiq_audit_head (id, seq, hash, mac) VALUES (1, $1, $2, $3)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac`, [head.seq, head.hash, headMac(head, chainKey)]);
      return sealed;
    });
  }

  /** Never seal onto a head that is not what the last append left (forged or removed): fail closed. */
  async #currentHead(c: pg.PoolClient): Promise<ChainHead> {
    const { rows } = await c.query<{ seq: string; hash: string; mac: string }>('SELECT seq, hash, mac FROM tiq_audit_head WHERE id = 1');
    const row = rows[0];
    if (!row) {
      const any = await c.query('SELECT 1 FROM tiq_audit_chain LIMIT 1');
      if (any.rowCount) throw new TiqError('TIQ_ERR_AUDIT', { reason: 'the shared audit chain has entries but no head' });
      return { seq: 0, hash: GENESIS_HASH };
    }
    const head = { seq: Number(row.seq), hash: row.hash };
    if (headMac(head, this.#options.chainKey) !== row.mac) throw new TiqError('TIQ_ERR_AUDIT', { reason: 'the shared audit chain head fails its MAC' });
    return head;
  }

  #transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, work, 'BEGIN; SET LOCAL synchronous_commit = on');
  }

  query(q: AuditQuery = {}): Promise<ClusterAuditEntry[]> {
    return queryEntries(this.#pool, q);
  }

  async verify(): Promise<AuditVerification> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string; mac: string }>('SELECT seq, hash, mac FROM tiq_audit_head WHERE id = 1');
    const stored: StoredHead | undefined = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash, mac: rows[0].mac } : undefined;
    return verifyAuditChain(auditRows(this.#pool), stored, this.#options.chainKey);
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      await this.#pool.query('SELECT 1 FROM tiq_audit_head LIMIT 1');
      return { ok: true };
    } catch {
      return { ok: false, detail: 'TIQ_ERR_AUDIT' };
    }
  }

  async close(): Promise<void> {
    await this.aggregator.close().catch(() => undefined);
    while (this.#flushing) await this.#flushing;
    await this.#pool.end();
  }
}
