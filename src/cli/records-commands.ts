/**
 * `thingiq records …` (count, export) and `thingiq retention …` (set, hold,
 * sweep). See docs/storage.md. Export decrypts and decodes through injected
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

  const records = program.command('records').description('stored records: count and export (docs/storage.md)');
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
    const out = o.out ? createWriteStream(o.out, { mode: 0o600 }) : stdout;
    const bar = progressBar(stderr, 'export');
    const n = await exportRecords(s.router.sinkFor(o.tenant), toQuery(o), out, {
      format: o.format, openRecord: deps.openRecord, decode: deps.decode, onProgress: (done, total) => bar.update(done, total),
    });
    bar.end();
    if (o.out) { out.end(); await finished(out); }
    stderr.write(`exported ${n} records\n`);
    return undefined;
  })());

  const retention = program.command('retention').description('retention rules, legal holds and the sweeper (docs/storage.md)');
  retention.command('set').description('set the retention of a tenant stream (or device group) and re-tag stored records')
    .requiredOption('--tenant <id>', 'tenant').requiredOption('--stream <name>', 'stream').requiredOption('--days <n>', 'days to keep')
    .option('--class <name>', 'retention class name (default <stream>-<days>d)').option('--group <id>', 'only this device group')
    .action((o: { tenant: string; stream: string; days: string; class?: string; group?: string }) => run(async (s) => {
      assertValidId('--tenant', o.tenant);
      const r = await s.retention.setRule({
        tenantId: o.tenant, stream: o.stream, days: Number(o.days),
        ...(o.class ? { retentionClass: o.class } : {}), ...(o.group ? { deviceGroup: o.group } : {}),
      });
      return `${o.tenant}/${o.stream}${o.group ? ` (group ${o.group})` : ''}: ${r.retentionClass}, ${o.days} days; re-tagged ${r.retagged} records`;
    })());

  retention.command('hold').description('set (or with --off release) a legal hold on a tenant or one device')
    .requiredOption('--tenant <id>', 'tenant').option('--device <id>', 'only this device').option('--off', 'release the hold')
    .action((o: { tenant: string; device?: string; off?: boolean }) => run(async (s) => {
      assertValidId('--tenant', o.tenant);
      if (o.device !== undefined) assertValidId('--device', o.device);
      const r = await s.retention.setHold({ tenantId: o.tenant, held: !o.off, ...(o.device ? { deviceId: o.device } : {}) });
      return `legal hold ${o.off ? 'released' : 'set'} on ${o.tenant}${o.device ? `/${o.device}` : ''}; ${r.flagged} records updated`;
    })());

  retention.command('sweep').description('delete expired records that are not held, now')
    .action(() => run(async (s) => {
      await s.retention.refresh();
      const r = await s.retention.sweep();
      return `deleted ${r.deleted} expired records; dropped ${r.partitionsDropped} partitions`;
    })());
}
