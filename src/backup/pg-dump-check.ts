/**
 * PostgreSQL sinks are backed up with pg_dump or PITR, not in the backup
 * file. `backup verify --pg-dump FILE` checks such a dump honestly, as far
 * as can be done without a server: it must be a pg_dump custom-format
 * archive that `pg_restore --list` reads whole, and it must hold the sink's
 * tables (records, their idempotency keys and the wrapped data keys).
 */
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { TiqError } from '../errors.ts';

const REQUIRED_TABLES = ['tiq_data_keys', 'tiq_record_keys', 'tiq_records'];
const PARTITIONED = 'tiq_records';

export interface PgDumpCheck {
  readonly file: string;
  readonly tables: readonly string[];
}

function magicOf(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(5);
    readSync(fd, buf, 0, 5, 0);
    return buf.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

export async function checkPgDump(file: string, pgRestore = 'pg_restore'): Promise<PgDumpCheck> {
  if (magicOf(file) !== 'PGDMP') throw new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'pg_dump', reason: 'not a pg_dump custom-format archive (pg_dump -Fc)' });
  let listing: string;
  try {
    listing = (await promisify(execFile)(pgRestore, ['--list', file], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TiqError('TIQ_ERR_CONFIG', `${pgRestore} is not installed: it is needed to check a pg_dump archive`);
    throw new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'pg_dump', reason: 'pg_restore cannot read the archive' });
  }
  // "<id>; <oid> <oid> TABLE <schema> <name> <owner>" for each table, "... TABLE DATA ..." for its rows.
  const defined = new Set([...listing.matchAll(/ TABLE \S+ (tiq_[a-z0-9_]+) /g)].map((m) => m[1]!));
  const withData = new Set([...listing.matchAll(/ TABLE DATA \S+ (tiq_[a-z0-9_]+) /g)].map((m) => m[1]!));
  // tiq_records is partitioned (by time): its rows are its partitions' data, and a sink without records has none.
  const hasData = (t: string) => withData.has(t) || (t === PARTITIONED && defined.has(t));
  const tables = [...defined].filter((t) => withData.has(t) || [...withData].some((d) => d.startsWith(`${t}_`)) || t === PARTITIONED).sort();
  const missing = REQUIRED_TABLES.filter((t) => !defined.has(t) || !hasData(t));
  if (missing.length) throw new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'pg_dump', reason: `the archive lacks the data of ${missing.join(', ')}` });
  return { file, tables };
}
