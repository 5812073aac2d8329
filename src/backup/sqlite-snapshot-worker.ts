/**
 * The backup's snapshot thread: `VACUUM INTO` of each SQLite file on a
 * connection of its own. In WAL mode that is one read transaction: a
 * consistent copy holding every commit made before it began (every record
 * whose PUBACK has left), while the gateway's writer keeps committing and
 * its event loop keeps serving. The copy is compact: pages freed by deletes
 * (an erasure's rows) are not carried over.
 */
import BetterSqlite3 from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

export interface SnapshotJob { readonly source: string; readonly dest: string }

const port = parentPort!;
const { jobs } = workerData as { jobs: SnapshotJob[] };
try {
  for (const job of jobs) {
    const db = new BetterSqlite3(job.source, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 10000');
      db.prepare('VACUUM INTO ?').run(job.dest);
    } finally {
      db.close();
    }
    port.postMessage({ kind: 'done', source: job.source });
  }
  port.postMessage({ kind: 'finished' });
} catch (err) {
  port.postMessage({ kind: 'failed', message: (err as Error).message, code: (err as { code?: string }).code });
}
