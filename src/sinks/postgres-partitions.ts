/**
 * Daily partitions of tiq_records: created on demand before a write or a
 * re-tag needs them, dropped whole by the sweeper once every row has expired
 * and none is held.
 */
import type pg from 'pg';
import { storedHoldExists } from './sql-filters.ts';
import { DAY_MS, DDL_LOCK_KEY, dayOf, dayOfPartition, partitionName } from './postgres-schema.ts';
import { inTransaction } from '../control/pg-transaction.ts';

/** SQLSTATE 23514 with this text: the row's expiry day has no partition (dropped by a sweeper elsewhere). */
export function isMissingPartition(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '23514' && typeof e.message === 'string' && e.message.includes('no partition');
}

export class PartitionManager {
  readonly #known = new Set<number>();

  constructor(private readonly pool: pg.Pool) {}

  forget(): void {
    this.#known.clear();
  }

  /** Ensures a partition exists for each UTC day of the given expiry times. */
  async ensureFor(expiresAtMs: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const ms of expiresAtMs) if (!this.#known.has(dayOf(ms))) days.add(dayOf(ms));
    if (days.size === 0) return;
    await this.ensureDays([...days]);
  }

  async ensureRange(fromMs: number, toMs: number): Promise<void> {
    const days: number[] = [];
    for (let d = dayOf(fromMs); d <= dayOf(toMs); d++) if (!this.#known.has(d)) days.push(d);
    if (days.length > 0) await this.ensureDays(days);
  }

  private async ensureDays(days: number[]): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK_KEY]);
      for (const day of days) {
        // Bounds are computed integers, never caller text.
        await client.query(`CREATE TABLE IF NOT EXISTS ${partitionName(day)} PARTITION OF tiq_records
          FOR VALUES FROM (${day * DAY_MS}) TO (${(day + 1) * DAY_MS})`);
      }
    });
    for (const day of days) this.#known.add(day);
  }

  async list(): Promise<{ name: string; day: number }[]> {
    const { rows } = await this.pool.query<{ relname: string }>(`SELECT c.relname FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tiq_records'::regclass`);
    return rows.flatMap((r) => {
      const day = dayOfPartition(r.relname);
      return day === undefined ? [] : [{ name: r.relname, day }];
    }).sort((a, b) => a.day - b.day);
  }

  /**
   * Drops the partition if its whole day has passed and no row in it is held
   * (flag or stored hold). Returns the rows it held, or undefined if kept.
   */
  async dropIfExpired(name: string, day: number, nowMs: number): Promise<number | undefined> {
    if ((day + 1) * DAY_MS > nowMs) return undefined;
    const removed = await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK_KEY]);
      // Blocks writers and re-tags into this partition between the check and the drop.
      await client.query(`LOCK TABLE ${name} IN SHARE ROW EXCLUSIVE MODE`);
      const held = await client.query(`SELECT 1 FROM ${name} r WHERE r.legal_hold OR ${storedHoldExists('r', 'true')} LIMIT 1`);
      // Kept: the transaction wrote nothing, so its commit only releases the locks.
      if (held.rowCount) return undefined;
      const keys = await client.query(`DELETE FROM tiq_record_keys k USING ${name} r WHERE k.tenant_id = r.tenant_id
        AND k.device_id = r.device_id AND k.stream = r.stream AND k.sequence = r.sequence AND k.content_digest = r.content_digest`);
      await client.query(`DROP TABLE ${name}`);
      return keys.rowCount ?? 0;
    });
    if (removed !== undefined) this.#known.delete(day);
    return removed;
  }
}
