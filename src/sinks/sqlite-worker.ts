/**
 * The SQLite sink's writer thread: owns one better-sqlite3 connection and
 * commits record batches, so the synchronous INSERTs, the COMMIT and its
 * fsync (durability `fsync`) never block the gateway's event loop.
 *
 * Batches arrive through a shared-memory ring (record-ring.ts). After each
 * COMMIT the thread takes every batch written meanwhile and commits them in
 * one transaction (group commit without a round trip through the main
 * thread); it sleeps on the ring only when nothing is waiting. A batch is
 * reported written only after the COMMIT that holds it returned. If that
 * shared transaction fails, each batch is retried in a transaction of its own,
 * so one batch's refused record never fails another's.
 */
import type { Database } from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { RingConsumer, type RingFrame } from './record-ring.ts';
import { decodeRecordBatch, type RowValues } from './sqlite-batch-codec.ts';
import { openSqliteDatabase } from './sqlite-open.ts';
import { SQLITE_INSERT_RECORD } from './sqlite-schema.ts';
import { toWorkerError, type BatchResult, type FromWorker, type SqliteWorkerData } from './sqlite-worker-protocol.ts';

const WRITER_CACHE_KIB = 32 * 1024;

const port = parentPort!;
const data = workerData as SqliteWorkerData;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let db: Database;
try {
  // Every insert touches four B-trees (rows, the idempotency key, the time and expiry indexes), the
  // key one at places spread by device: a page cache larger than the 2 MB default keeps commits short as the table grows.
  db = openSqliteDatabase({ path: data.path, durability: data.durability, cacheKiB: WRITER_CACHE_KIB });
} catch (err) {
  post({ kind: 'failed', error: toWorkerError(err) });
  port.close();
  throw err;
}
const insert = db.prepare(SQLITE_INSERT_RECORD);
// One transaction for the batches given: every record of them is committed or none is.
const writeAll = db.transaction((batches: readonly RowValues[][]): Uint8Array[] => batches.map((rows) => {
  const outcomes = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) outcomes[i] = insert.run(...rows[i]!).changes === 1 ? 1 : 0;
  return outcomes;
}));

function commitFrames(frames: readonly RingFrame[]): BatchResult[] {
  const decoded = frames.map((f): RowValues[] | Error => {
    try {
      return decodeRecordBatch(f);
    } catch (err) {
      return err as Error;
    }
  });
  const batches = decoded.filter((d): d is RowValues[] => !(d instanceof Error));
  if (batches.length === decoded.length) {
    try {
      return writeAll(batches).map((outcomes) => ({ outcomes }));
    } catch (err) {
      if (batches.length === 1) return [{ error: toWorkerError(err) }];
    }
  }
  return decoded.map((d): BatchResult => {
    if (d instanceof Error) return { error: toWorkerError(d) };
    try {
      return { outcomes: writeAll([d])[0]! };
    } catch (err) {
      return { error: toWorkerError(err) };
    }
  });
}

const ring = new RingConsumer(data.ring);
post({ kind: 'ready' });
for (let frames = ring.takeAll(); frames.length > 0; frames = ring.takeAll()) {
  const results = commitFrames(frames);
  // The rows are bound (copied) by each INSERT; after the COMMIT the ring's space can be reused.
  ring.release();
  post({ kind: 'committed', results }, results.flatMap((r) => ('outcomes' in r ? [r.outcomes.buffer as ArrayBuffer] : [])));
}
db.close();
post({ kind: 'closed' });
port.close();
