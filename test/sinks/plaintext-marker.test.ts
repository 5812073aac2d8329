/**
 * docs/architecture.md invariant: plaintext payloads never reach storage. Reads the
 * raw bytes of the SQLite database, WAL and shared-memory files.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BatchingWriter } from '../../src/sinks/batching-writer.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { openRecord, sealJson } from './fixtures.ts';

const MARKER = 'PLAINTEXT-MARKER-5e1f0c2a';

function filesContain(path: string, needle: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f) && readFileSync(f).includes(Buffer.from(needle)));
}

test('records sealed from payloads carrying a marker never put the marker in the database files', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tiq-marker-')), 'thingiq.db');
  const sink = new SqliteSink('default', { path, durability: 'fsync' });
  await sink.start();
  const writer = new BatchingWriter(sink, { maxBatchRecords: 64, maxBatchDelayMs: 2, maxPendingRecords: 1000, retryInitialMs: 5, retryMaxMs: 50 });
  const records = Array.from({ length: 300 }, (_, i) => sealJson({ note: MARKER, lat: 52.37 + i / 1e4, lon: 4.89 }));
  await Promise.all(records.map((r) => writer.write(r)));
  expect((await openRecord(records[0]!)).toString()).toContain(MARKER);

  // Control: a field stored in clear (the policy id) does show up, so the scan can see what was written.
  const control = `CONTROL-${MARKER.split('').reverse().join('')}`;
  await writer.write(sealJson({ x: 1 }, { policyId: control }));
  expect(filesContain(path, control).length).toBeGreaterThan(0);

  expect(filesContain(path, MARKER)).toEqual([]);
  await writer.close();
  await sink.close();
  // After close the WAL is checkpointed into the main file: still nothing.
  expect(filesContain(path, MARKER)).toEqual([]);
  expect(filesContain(path, control)).toEqual([path]);
});
