/**
 * Throughput and gateway-side CPU per row of the PostgreSQL sink's batch
 * insert on a real (embedded) PostgreSQL, in both durability modes: the
 * sink's `unnest` statement (postgres-insert.ts) against the VALUES list of
 * placeholders it replaced (kept here as the reference), alternating round
 * by round in one run so both see the same machine.
 *
 * "process CPU" is this process's user + system time (process.cpuUsage):
 * the pg driver runs on the main thread, so it is what building parameters,
 * encoding, socket writes and parsing the reply cost the thread that also
 * runs the broker, plus the garbage collector's helper threads; the
 * server's CPU is not in it. "loop busy" is the event loop's active time
 * (performance.eventLoopUtilization), an upper bound on a shared machine.
 *
 * Last, the two costs a writer thread would trade: building the statement's
 * parameters (what it would take off the main thread) against cloning the
 * batch for postMessage (what it would add), both per row, on this thread.
 *
 * `node --import tsx bench/pg-sink-insert.ts [rows] [batch] [writers] [rounds]`
 * (defaults 20000 rows, batches of 500, 1 writer, 3 rounds; medians
 * reported; `writers` batches in flight at once, as a pool allows). The
 * VALUES list cannot carry more than 3276 records (65535 parameters).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { batchColumns } from '../src/sinks/postgres-insert.ts';
import { PostgresSink } from '../src/sinks/postgres-sink.ts';
import { RECORD_COLUMNS, recordToValues } from '../src/sinks/record-row.ts';
import type { SealedRecord } from '../src/records/message.ts';
import type { Durability } from '../src/config/sinks-config.ts';
import { startEmbedded } from '../test/helpers/postgres.ts';

const rows = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 500);
const writers = Number(process.argv[4] ?? 1);
const rounds = Number(process.argv[5] ?? 3);
const T0 = Date.now();
const EXPIRES = T0 + 30 * 86_400_000;

function makeRecord(i: number): SealedRecord {
  const ciphertext = randomBytes(64);
  return {
    tenantId: 'fleet', deviceId: `truck-${i % 200}`, stream: 'location', recordId: randomUUID(), sequence: i,
    deviceTimeMs: T0 + i, receivedAtMs: T0 + i, formatVersion: 1, dekId: 'dek-1', kekRef: 'local:fleet:v1',
    iv: randomBytes(12), ciphertext, tag: randomBytes(16), encoding: 'protobuf', policyId: 'default', policyVersion: 1,
    retentionClass: 'default-365d', expiresAtMs: EXPIRES, legalHold: false,
    contentDigest: createHash('sha256').update(ciphertext).digest().subarray(0, 16),
  };
}

function placeholders(count: number, columns: number): string {
  const out: string[] = [];
  for (let r = 0; r < count; r++) out.push(`(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(', ')})`);
  return out.join(', ');
}

/** The statement pair the sink used before unnest, with its outcome bookkeeping. */
async function valuesListInsert(pool: pg.Pool, durability: Durability, records: readonly SealedRecord[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(`BEGIN; SET LOCAL synchronous_commit = ${durability === 'fsync' ? 'on' : 'off'}`);
    const claimed = await client.query<{ record_id: string }>(
      `INSERT INTO tiq_record_keys (tenant_id, device_id, stream, sequence, content_digest, record_id) VALUES ${placeholders(records.length, 6)}
       ON CONFLICT DO NOTHING RETURNING record_id`, records.flatMap((r) => [r.tenantId, r.deviceId, r.stream, r.sequence, r.contentDigest, r.recordId]));
    const fresh = new Set(claimed.rows.map((r) => r.record_id));
    const toInsert = records.filter((r) => fresh.delete(r.recordId));
    await client.query(`INSERT INTO tiq_records (${RECORD_COLUMNS.join(', ')}) VALUES ${placeholders(toInsert.length, RECORD_COLUMNS.length)}`,
      toInsert.flatMap(recordToValues));
    await client.query('COMMIT');
    return toInsert.length;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

type Method = 'values' | 'unnest';
interface Round { readonly rowsPerS: number; readonly cpuUs: number; readonly busyUs: number }

async function run(url: string, durability: Durability, method: Method): Promise<Round> {
  const sink = new PostgresSink('bench', { connectionString: url, durability, poolSize: Math.max(2, writers) });
  await sink.start();
  const pool = new pg.Pool({ connectionString: url, max: Math.max(2, writers) });
  const write = method === 'unnest'
    ? async (b: SealedRecord[]) => (await sink.writeBatch(b)).inserted
    : (b: SealedRecord[]) => valuesListInsert(pool, durability, b);
  const batches: SealedRecord[][] = [];
  for (let i = 0; i < rows; i += batch) batches.push(Array.from({ length: Math.min(batch, rows - i) }, (_, k) => makeRecord(i + k)));
  // Warm-up: the partition exists and both connections have run the statements before timing starts.
  await sink.writeBatch([makeRecord(rows + 1)]);
  await write([makeRecord(rows + 2)]);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const inserted = await write(b);
      if (inserted !== b.length) throw new Error(`expected ${b.length} inserted, got ${inserted}`);
    }
  }));
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  await pool.end();
  await sink.close();
  return { rowsPerS: rows / (wallMs / 1000), cpuUs: (cpu.user + cpu.system) / rows, busyUs: elu.active * 1000 / rows };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** µs per row of `fn` over a batch, median of 5 timings of 50 repetitions. */
function perRow(records: readonly SealedRecord[], fn: (b: readonly SealedRecord[]) => unknown): number {
  const times: number[] = [];
  for (let t = 0; t < 5; t++) {
    const t0 = performance.now();
    for (let k = 0; k < 50; k++) fn(records);
    times.push((performance.now() - t0) * 1000 / (50 * records.length));
  }
  return median(times);
}

function offThreadTrade(): void {
  const sample = Array.from({ length: batch }, (_, i) => makeRecord(i));
  const encode = perRow(sample, batchColumns);
  const clone = perRow(sample, (b) => structuredClone(b));
  console.log(`per row on the main thread: parameters ${encode.toFixed(2)} µs, structured clone for a worker ${clone.toFixed(2)} µs`);
}

const server = await startEmbedded();
try {
  for (const durability of ['fsync', 'process'] as const) {
    const results: Record<Method, Round[]> = { values: [], unnest: [] };
    for (let i = 0; i < rounds; i++) {
      for (const method of ['values', 'unnest'] as const) {
        if (method === 'values' && batch > 3276) continue;
        results[method].push(await run(await server.newDatabase(), durability, method));
      }
    }
    for (const method of ['values', 'unnest'] as const) {
      const r = results[method];
      if (r.length === 0) { console.log(`${durability.padEnd(8)} ${method.padEnd(7)} batch ${batch}: cannot (more than 65535 parameters)`); continue; }
      console.log(`${durability.padEnd(8)} ${method.padEnd(7)} batch ${String(batch).padStart(5)} writers ${writers}: `
        + `${Math.round(median(r.map((x) => x.rowsPerS))).toLocaleString('en')} rows/s, `
        + `process CPU ${median(r.map((x) => x.cpuUs)).toFixed(1)} µs/row, loop busy ${median(r.map((x) => x.busyUs)).toFixed(1)} µs/row (median of ${r.length})`);
    }
  }
  offThreadTrade();
} finally {
  await server.close();
}
