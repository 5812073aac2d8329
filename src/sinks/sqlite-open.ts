/**
 * Opening the SQLite file, shared by the sink (main thread: reads, keys,
 * retention) and its writer thread (record batches).
 *
 * Durability (https://www.sqlite.org/pragma.html#pragma_synchronous):
 * `fsync` sets synchronous=FULL: the WAL is fsynced at every commit, so a
 * committed batch survives power loss. `process` sets synchronous=NORMAL: in
 * WAL mode a commit survives a crash of the process (the OS still holds the
 * write) but the last commits may be lost on power loss or an OS crash.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Durability } from '../config/sinks-config.ts';
import { TiqError } from '../errors.ts';
import { migrateSqliteSchema } from './sqlite-migrate.ts';
import { SQLITE_SCHEMA } from './sqlite-schema.ts';

export interface SqliteOpenOptions {
  readonly path: string;
  readonly durability: Durability;
  /** Create the tables (the main connection does it once, before the writer thread opens). */
  readonly createSchema?: boolean;
  /** Page cache in KiB (SQLite's default is 2,000). */
  readonly cacheKiB?: number;
}

/**
 * Owner-only, whatever the umask: SQLite creates the database file 0644 less
 * the umask, and gives -wal and -shm the database file's mode when it
 * (re)creates them, so the database file is tightened before WAL mode is set.
 */
function ownerOnly(path: string): void {
  const mode = statSync(path, { throwIfNoEntry: false })?.mode;
  if (mode !== undefined && (mode & 0o077) !== 0) chmodSync(path, mode & 0o600);
}

export function openSqliteDatabase(options: SqliteOpenOptions): Database {
  const onDisk = options.path !== ':memory:';
  if (onDisk) mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(options.path);
  try {
    if (onDisk) ownerOnly(options.path);
    db.pragma('journal_mode = WAL');
    if (onDisk) for (const suffix of ['-wal', '-shm']) ownerOnly(`${options.path}${suffix}`);
    db.pragma(`synchronous = ${options.durability === 'fsync' ? 'FULL' : 'NORMAL'}`);
    // Deleted rows (erasure, expiry, destroyed data keys) are overwritten with zeros, not left in free space.
    db.pragma('secure_delete = ON');
    // Two connections (this process's main thread and writer thread) and the CLI may each hold the write lock briefly.
    db.pragma('busy_timeout = 5000');
    if (options.cacheKiB !== undefined) db.pragma(`cache_size = -${Math.trunc(options.cacheKiB)}`);
    if (options.createSchema) {
      migrateSqliteSchema(db);
      db.exec(SQLITE_SCHEMA);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * After an erasure: copies every WAL frame into the database file and
 * truncates the WAL to zero bytes (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint),
 * so no earlier version of an erased page survives in the -wal file. Waits
 * for writers through the busy timeout; TIQ_ERR_STORE_UNAVAILABLE (retryable:
 * the erasure can be repeated) if it still cannot finish.
 */
export function truncateWal(db: Database, sink: string): void {
  if (db.memory) return;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    if (row?.busy === 0) return;
  }
  throw new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink, reason: 'the WAL could not be checkpointed after an erasure' });
}
