/**
 * Data portability: decrypts and decodes a tenant's records page by page
 * (keyset on receivedAtMs, recordId) and writes NDJSON or CSV (RFC 4180).
 *
 * Decryption and decoding are injected: this module never holds keys, and the
 * integrator wires the keys module and the codec.
 */
import type { Writable } from 'node:stream';
import type { PayloadEncoding, SealedRecord } from '../records/message.ts';
import type { RecordQuery, StorageSink } from './storage-sink.ts';

export type OpenRecord = (record: SealedRecord) => Promise<Buffer>;
export type DecodeRecord = (stream: string, payload: Buffer, encoding: PayloadEncoding) => object;
export type ExportFormat = 'ndjson' | 'csv';

export interface ExportOptions {
  readonly format: ExportFormat;
  readonly openRecord: OpenRecord;
  readonly decode: DecodeRecord;
  readonly pageSize?: number;
  /** Called after each page with records written so far and the total to write. */
  readonly onProgress?: (done: number, total: number) => void;
}

export const CSV_COLUMNS = [
  'tenantId', 'deviceId', 'stream', 'recordId', 'sequence', 'deviceTime', 'receivedAt',
  'policyId', 'policyVersion', 'retentionClass', 'expiresAt', 'legalHold', 'data',
] as const;

export type ExportRow = Record<(typeof CSV_COLUMNS)[number], unknown>;

export function toRow(r: SealedRecord, data: object): ExportRow {
  return {
    tenantId: r.tenantId, deviceId: r.deviceId, stream: r.stream, recordId: r.recordId, sequence: r.sequence,
    deviceTime: new Date(r.deviceTimeMs).toISOString(), receivedAt: new Date(r.receivedAtMs).toISOString(),
    policyId: r.policyId, policyVersion: r.policyVersion, retentionClass: r.retentionClass,
    expiresAt: new Date(r.expiresAtMs).toISOString(), legalHold: r.legalHold, data,
  };
}

/** 64-bit integers may arrive as bigint; JSON has no bigint. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function csvCell(value: unknown): string {
  const text = typeof value === 'object' && value !== null ? json(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function formatRow(row: ExportRow, format: ExportFormat): string {
  if (format === 'ndjson') return `${json(row)}\n`;
  return `${CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n`;
}

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

/** Writes every record matching the query; returns how many. Does not end `out`. */
export async function exportRecords(sink: StorageSink, query: RecordQuery, out: Writable, options: ExportOptions): Promise<number> {
  const total = await sink.countRecords({ ...query, after: undefined });
  if (options.format === 'csv') await write(out, `${CSV_COLUMNS.join(',')}\r\n`);
  let after = query.after;
  let done = 0;
  for (;;) {
    const page = await sink.queryRecords({ ...query, after, limit: options.pageSize ?? 500 });
    for (const record of page) {
      const payload = await options.openRecord(record);
      const data = options.decode(record.stream, payload, record.encoding);
      const line = formatRow(toRow(record, data), options.format);
      // Zeroed only after formatting: decoded bytes fields may share the buffer.
      payload.fill(0);
      await write(out, line);
    }
    done += page.length;
    options.onProgress?.(done, total);
    const last = page.at(-1);
    if (!last || page.length < (options.pageSize ?? 500)) return done;
    after = { receivedAtMs: last.receivedAtMs, recordId: last.recordId };
  }
}
