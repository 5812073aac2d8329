/**
 * `thingiq records …` (count, export; replay and tail in records-replay-commands.ts); `thingiq retention …` is registered
 * from retention-commands.ts. See docs/storage.md. Export decrypts and decodes through injected
 * functions: the CLI entry wires the keys module and the codec.
 */
import type { Command } from 'commander';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { isTiqError, TiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { openStorage, type OpenedStorage } from '../gateway/open-storage.ts';
import { progressBar } from '../sinks/progress-bar.ts';
import { exportRecords, type DecodeRecord, type OpenRecord } from '../sinks/record-export.ts';
import type { RecordQuery } from '../sinks/storage-sink.ts';
import { exitCodeFor } from './context.ts';
import { registerReplayCommands } from './records-replay-commands.ts';
import { registerRetentionCommands } from './retention-commands.ts';
import { auditedRead } from './state-path.ts';

export interface RecordsCommandDeps {
  readonly openRecord?: OpenRecord;
  readonly decode?: DecodeRecord;
  readonly stdout?: Writable;
  readonly stderr?: Writable & { isTTY?: boolean };
}

interface FilterOptions { tenant: string; device?: string; stream?: string; from?: string; to?: string }

function parseTime(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`--${field} must be an ISO 8601 time or epoch milliseconds`);
  return ms;
}

function toQuery(o: FilterOptions): RecordQuery {
  assertValidId('--tenant', o.tenant);
  if (o.device !== undefined) assertValidId('--device', o.device);
  const fromMs = parseTime('from', o.from);
  const toMs = parseTime('to', o.to);
  return {
    tenantId: o.tenant,
    ...(o.device !== undefined ? { deviceId: o.device } : {}),
    ...(o.stream !== undefined ? { stream: o.stream } : {}),
    ...(fromMs !== undefined ? { fromMs } : {}),
    ...(toMs !== undefined ? { toMs } : {}),
  };
}

function withFilters(cmd: Command): Command {
  return cmd.requiredOption('--tenant <id>', 'tenant').option('--device <id>', 'one device').option('--stream <name>', 'one stream')
    .option('--from <time>', 'received at or after (ISO 8601 or epoch ms)').option('--to <time>', 'received before (ISO 8601 or epoch ms)');
}

export function registerRecordsCommands(program: Command, deps: RecordsCommandDeps = {}): void {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const run = (work: (s: OpenedStorage) => Promise<string | undefined>) => async () => {
    let storage: OpenedStorage | undefined;
    try {
      storage = await openStorage(program.opts<{ config?: string }>().config);
      const line = await work(storage);
      if (line !== undefined) stdout.write(`${line}\n`);
    } catch (err) {
      const detail = isTiqError(err) && err.detail ? ` ${JSON.stringify(err.detail)}` : '';
      stderr.write(`${(err as Error).message}${detail}\n`);
      process.exitCode = exitCodeFor(err);
    } finally {
      await storage?.close();
    }
  };

  const records = program.command('records').description('stored records: count, export, replay and tail (docs/storage.md)');
  const count = withFilters(records.command('count').description('count stored records')).option('--json', 'print JSON');
  count.action((o: FilterOptions & { json?: boolean }) => run(async (s) => {
    const n = await s.router.sinkFor(o.tenant).countRecords(toQuery(o));
    return o.json ? JSON.stringify({ tenant: o.tenant, count: n }) : String(n);
  })());

  const exp = withFilters(records.command('export').description('decrypt and export records as NDJSON or CSV'))
    .requiredOption('--format <format>', 'ndjson | csv').option('--out <file>', 'write here (created 0600) instead of stdout');
  exp.action((o: FilterOptions & { format: string; out?: string }) => run(async (s) => {
    if (o.format !== 'ndjson' && o.format !== 'csv') throw new TiqError('TIQ_ERR_USAGE', '--format must be ndjson or csv');
    if (!deps.openRecord || !deps.decode) throw new Error('export is not wired to the keys module and codec in this build');
    const { openRecord, decode } = deps;
    const query = toQuery(o);
    // Decrypted personal data leaves the store: audited like the API's access export, before the first record.
    const what = { action: 'records.export', tenant: o.tenant, device: o.device, ...(o.device ? {} : { target: `tenant:${o.tenant}` }) };
    const n = await auditedRead(s.config, what, async () => {
      const out = o.out ? createWriteStream(o.out, { mode: 0o600 }) : stdout;
      const bar = progressBar(stderr, 'export');
      const exported = await exportRecords(s.router.sinkFor(o.tenant), query, out, {
        format: o.format as 'ndjson' | 'csv', openRecord, decode, onProgress: (done, total) => bar.update(done, total),
      });
      bar.end();
      if (o.out) { out.end(); await finished(out); }
      return { result: exported, note: `records=${exported} format=${o.format}${o.stream ? ` stream=${o.stream}` : ''}` };
    });
    stderr.write(`exported ${n} records\n`);
    return undefined;
  })());

  registerReplayCommands(records, { print: (text) => stdout.write(text), openRecord: deps.openRecord, decode: deps.decode });
  registerRetentionCommands(program, { stdout, stderr });
}
