/**
 * The embedded control store: its own SQLite file in dataDir (default
 * `control.db`, never the telemetry sink's), so the default needs no
 * service. Other processes (the CLI, a second gateway on the same host)
 * write the same file; SQLite's `PRAGMA data_version` changes whenever
 * another connection commits (https://www.sqlite.org/pragma.html#pragma_data_version),
 * so a cheap check every `watchIntervalMs` tells when to catch up.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChangeRow, ControlStoreLogger, ControlWrite } from './control-store.ts';
import { encodeValue } from './control-store.ts';
import { ReplicatedControlStore, type Snapshot } from './replica.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS control_changes (
  version INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  actor TEXT NOT NULL,
  at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS control_state (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
) WITHOUT ROWID;
`;

async function syncFile(path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

export interface SqliteControlStoreOptions {
  readonly path: string;
  /** How often to check for other connections' commits (default 100 ms). */
  readonly watchIntervalMs?: number;
  readonly logger?: ControlStoreLogger;
}

export class SqliteControlStore extends ReplicatedControlStore {
  readonly backend = 'sqlite' as const;
  #db: Database;
  #timer: NodeJS.Timeout | undefined;
  #dataVersion = 0;

  readonly #walPath: string;

  private constructor(db: Database, path: string, logger?: ControlStoreLogger) {
    super(logger);
    this.#db = db;
    this.#walPath = `${path}-wal`;
  }

  static async open(options: SqliteControlStoreOptions): Promise<SqliteControlStore> {
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    const db = new BetterSqlite3(options.path);
    try {
      // Owner-only before WAL is set: SQLite gives -wal and -shm the database file's mode.
      chmodSync(options.path, 0o600);
      db.pragma('journal_mode = WAL');
      for (const suffix of ['-wal', '-shm']) if (existsSync(`${options.path}${suffix}`)) chmodSync(`${options.path}${suffix}`, 0o600);
      // Every commit is made durable before write() resolves, but the fsync
      // runs on the thread pool (commit()), not inside SQLite on the event
      // loop: NORMAL in WAL mode syncs only at checkpoints
      // (https://www.sqlite.org/pragma.html#pragma_synchronous).
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      throw err;
    }
    const store = new SqliteControlStore(db, options.path, options.logger);
    store.#dataVersion = store.readDataVersion();
    await store.loadSnapshot();
    store.#timer = setInterval(() => store.checkForeignCommits(), options.watchIntervalMs ?? 100);
    store.#timer.unref();
    return store;
  }

  private readDataVersion(): number {
    return Number(this.#db.pragma('data_version', { simple: true }));
  }

  private checkForeignCommits(): void {
    if (this.closed) return;
    try {
      const v = this.readDataVersion();
      if (v === this.#dataVersion) return;
      this.#dataVersion = v;
      void this.catchUp().catch((err: unknown) => this.log?.error({ event: 'control_catch_up_failed', code: 'TIQ_ERR_CONTROL_STORE', reason: (err as Error).message }, 'cannot read the control store'));
    } catch (err) {
      this.log?.error({ event: 'control_catch_up_failed', code: 'TIQ_ERR_CONTROL_STORE', reason: (err as Error).message }, 'cannot read the control store');
    }
  }

  protected async readSnapshot(): Promise<Snapshot> {
    return this.#db.transaction(() => ({
      version: Number((this.#db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM control_changes').get() as { v: number }).v),
      rows: this.#db.prepare('SELECT kind, key, value FROM control_state ORDER BY version').all() as { kind: string; key: string; value: string }[],
    }))();
  }

  protected async readChanges(afterVersion: number, limit: number): Promise<ChangeRow[]> {
    return this.#db.prepare('SELECT version, kind, key, value, actor, at_ms AS atMs FROM control_changes WHERE version > ? ORDER BY version LIMIT ?')
      .all(afterVersion, limit) as ChangeRow[];
  }

  protected async commit(writes: readonly ControlWrite[], actor: string, atMs: number): Promise<number[]> {
    const insert = this.#db.prepare('INSERT INTO control_changes (kind, key, value, actor, at_ms) VALUES (?, ?, ?, ?, ?)');
    const upsert = this.#db.prepare('INSERT INTO control_state (kind, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, version = excluded.version');
    const remove = this.#db.prepare('DELETE FROM control_state WHERE kind = ? AND key = ?');
    const run = this.#db.transaction(() => writes.map((w) => {
      const value = encodeValue(w.value);
      const version = Number(insert.run(w.kind, w.key, value, actor, atMs).lastInsertRowid);
      if (value === null) remove.run(w.kind, w.key);
      else upsert.run(w.kind, w.key, value, version);
      return version;
    }));
    const versions = run.immediate();
    // What synchronous = FULL would do inside the commit: the WAL on disk before the change counts as made.
    await syncFile(this.#walPath);
    // Our own commit bumps nothing for us (data_version counts other connections' commits only).
    return versions;
  }

  override async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await super.close();
    if (this.#db.open) this.#db.close();
  }
}
