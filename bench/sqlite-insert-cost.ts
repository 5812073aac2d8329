/**
 * CPU per stored row of the SQLite records table, with and without the
 * record_id UNIQUE index schema version 3 dropped: the same INSERT, batches of
 * `batch` rows per fsynced transaction, on one thread, read with
 * process.cpuUsage (user + system, so the WAL writes and fsyncs count).
 * `node --import tsx bench/sqlite-insert-cost.ts [rows] [batch]`; alternates the two schemas three times.
 */
import Database from 'better-sqlite3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newRecordId } from '../src/pipeline/record-id.ts';
import { RECORD_COLUMNS } from '../src/sinks/record-row.ts';
import { SQLITE_INSERT_RECORD, SQLITE_SCHEMA } from '../src/sinks/sqlite-schema.ts';

const rows = Number(process.argv[2] ?? 40_000);
const batch = Number(process.argv[3] ?? 16);
const dir = mkdtempSync(join(tmpdir(), 'tiq-insert-'));

function run(label: string, uniqueRecordId: boolean, round: number): void {
  const db = new Database(join(dir, `${label}-${round}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -32768');
  db.exec(uniqueRecordId ? SQLITE_SCHEMA.replace('record_id TEXT NOT NULL,', 'record_id TEXT NOT NULL UNIQUE,') : SQLITE_SCHEMA);
  const insert = db.prepare(SQLITE_INSERT_RECORD);
  const write = db.transaction((values: unknown[][]) => { for (const v of values) insert.run(...v); });
  const dek = randomUUID();
  const row = (i: number): unknown[] => ['fleet', `truck-${i % 200}`, 'location', newRecordId(Date.now()), Math.floor(i / 200), Date.now(), Date.now(), 1,
    dek, 'local:1', randomBytes(12), randomBytes(64), randomBytes(16), 'protobuf', 'p', 1, 'default-365d', Date.now() + 86_400_000, 0, randomBytes(16)];
  if (RECORD_COLUMNS.length !== row(0).length) throw new Error('column count');
  const started = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rows; i += batch) write(Array.from({ length: Math.min(batch, rows - i) }, (_, k) => row(i + k)));
  const cpu = process.cpuUsage(started);
  console.log(`${label.padEnd(24)} ${(((cpu.user + cpu.system) / rows)).toFixed(1)} µs CPU/row, ${((performance.now() - t0) * 1000 / rows).toFixed(1)} µs wall/row`);
  db.close();
}

try {
  for (let round = 0; round < 3; round++) {
    run('v2: record_id UNIQUE', true, round);
    run('v3: no record_id index', false, round);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
