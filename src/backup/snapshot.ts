/** Runs the snapshot thread (sqlite-snapshot-worker.ts) and waits for every copy. */
import { closeSync, openSync } from 'node:fs';
import { TiqError } from '../errors.ts';
import { MODULE_EXTENSION, startModuleWorker } from '../sinks/sqlite-worker-client.ts';
import type { SnapshotJob } from './sqlite-snapshot-worker.ts';

type FromSnapshot = { kind: 'done'; source: string } | { kind: 'finished' } | { kind: 'failed'; message: string; code?: string };

export async function snapshotSqlite(jobs: readonly SnapshotJob[], onDone: (source: string) => void = () => {}): Promise<void> {
  // VACUUM INTO writes into an empty file: made here first, owner-only whatever the umask.
  for (const job of jobs) closeSync(openSync(job.dest, 'wx', 0o600));
  const worker = startModuleWorker(new URL(`./sqlite-snapshot-worker${MODULE_EXTENSION}`, import.meta.url), { jobs });
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      reject(new TiqError('TIQ_ERR_STORE_UNAVAILABLE', `cannot snapshot a SQLite database: ${message}`));
    };
    worker.on('message', (m: FromSnapshot) => {
      if (m.kind === 'done') onDone(m.source);
      else if (m.kind === 'failed') fail(m.message);
      else if (!settled) {
        settled = true;
        resolve();
      }
    });
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', () => fail('snapshot thread exited'));
  });
  await worker.terminate();
}
