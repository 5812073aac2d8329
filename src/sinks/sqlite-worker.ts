/**
 * The SQLite sink's writer thread: owns one better-sqlite3 connection and
 * commits record batches, so the synchronous INSERTs, the COMMIT and its
 * fsync (durability `fsync`) no longer block the gateway's event loop.
 * Batches are processed one at a time in arrival order; a batch is reported
 * written only after its COMMIT returned.
 */
import type { Database } from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeRecordBatch, type RowValues } from './sqlite-batch-codec.ts';
import { openSqliteDatabase } from './sqlite-open.ts';
import { SQLITE_INSERT_RECORD } from './sqlite-schema.ts';
import { toWorkerError, type FromWorker, type SqliteWorkerData, type ToWorker } from './sqlite-worker-protocol.ts';

const INSERT_RECORD = SQLITE_INSERT_RECORD;

const WRITER_CACHE_KIB = 32 * 1024;

const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let db: Database;
try {
  // Every insert touches four B-trees (rows, the idempotency key, the time and expiry indexes), the
  // key one at places spread by device: a page cache larger than the 2 MB default keeps commits short as the table grows.
  db = openSqliteDatabase({ ...(workerData as SqliteWorkerData), cacheKiB: WRITER_CACHE_KIB });
} catch (err) {
  post({ kind: 'failed', error: toWorkerError(err) });
  port.close();
  throw err;
}
const insert = db.prepare(INSERT_RECORD);
// One transaction per batch: every record is committed or none is.
const writeAll = db.transaction((rows: RowValues[]): Uint8Array => {
  const outcomes = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) outcomes[i] = insert.run(...rows[i]!).changes === 1 ? 1 : 0;
  return outcomes;
});

port.on('message', (m: ToWorker) => {
  if (m.kind === 'close') {
    db.close();
    post({ kind: 'closed' });
    port.close();
    return;
  }
  try {
    const outcomes = writeAll(decodeRecordBatch(m.buffer, m.byteLength));
    post({ kind: 'written', id: m.id, outcomes }, [outcomes.buffer as ArrayBuffer]);
  } catch (err) {
    post({ kind: 'error', id: m.id, error: toWorkerError(err) });
  }
});
post({ kind: 'ready' });
