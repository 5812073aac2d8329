/**
 * The storage the pipeline's store stage talks to: one sink and one
 * BatchingWriter per configured sink, and the tenant → sink routing (data
 * residency: a pinned tenant's records, keys, rules and holds live only in
 * its sink).
 */
import { TiqError } from '../errors.ts';
import type { SealedRecord } from '../records/message.ts';
import { BatchingWriter, type WriteOutcome, type WriterLogger, type WriterState } from './batching-writer.ts';
import { createSink, type SinkContext } from './sink-registry.ts';
import type { StorageConfig } from '../config/sinks-config.ts';
import type { SinkHealth, StorageSink } from './storage-sink.ts';

export interface StorageRouterOptions {
  readonly logger?: WriterLogger;
  /** Called with the sink name when its writer starts (true) or stops (false) pushing back. */
  readonly onBackpressure?: (sink: string, active: boolean) => void;
  /** Each committed batch: sink, records, seconds. */
  readonly onCommit?: (sink: string, records: number, seconds: number) => void;
}

export interface StorageHealth {
  readonly ok: boolean;
  readonly sinks: Record<string, SinkHealth & { readonly writer: WriterState }>;
}

export class StorageRouter {
  readonly #writers = new Map<string, BatchingWriter>();

  constructor(
    readonly sinks: ReadonlyMap<string, StorageSink>,
    private readonly config: Pick<StorageConfig, 'defaultSink' | 'tenantSinks' | 'batching'>,
    options: StorageRouterOptions = {},
  ) {
    if (!sinks.has(config.defaultSink)) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`storage.defaultSink: no sink named "${config.defaultSink}"`] });
    for (const [name, sink] of sinks) {
      this.#writers.set(name, new BatchingWriter(sink, {
        ...config.batching,
        pipelined: sink.pipelinedWrites === true,
        ...(options.logger ? { logger: options.logger } : {}),
        onBackpressure: (active) => options.onBackpressure?.(name, active),
        onCommit: (records, seconds) => options.onCommit?.(name, records, seconds),
      }));
    }
  }

  static fromConfig(storage: StorageConfig, context: SinkContext, options: StorageRouterOptions = {}): StorageRouter {
    const sinks = new Map(Object.entries(storage.sinks).map(([name, settings]) => [name, createSink(name, settings, context)]));
    return new StorageRouter(sinks, storage, options);
  }

  sinkNameFor(tenantId: string): string {
    return this.config.tenantSinks[tenantId] ?? this.config.defaultSink;
  }

  sinkFor(tenantId: string): StorageSink {
    return this.byName(this.sinks, this.sinkNameFor(tenantId));
  }

  writerFor(tenantId: string): BatchingWriter {
    return this.byName(this.#writers, this.sinkNameFor(tenantId));
  }

  /** The earliest receivedAtMs of the records still pending in the tenant's sink's writer (any tenant's: it is shared), if any. */
  oldestPendingReceivedAtMs(tenantId: string): number | undefined {
    return this.writerFor(tenantId).oldestPendingReceivedAtMs();
  }

  /** The store stage: resolves after the record's batch committed in the tenant's sink. */
  write(record: SealedRecord): Promise<WriteOutcome> {
    return this.writerFor(record.tenantId).write(record);
  }

  private byName<T>(map: ReadonlyMap<string, T>, name: string): T {
    const found = map.get(name);
    if (!found) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`no sink named "${name}"`] });
    return found;
  }

  /**
   * Tenants with records in a sink they are not pinned to: `tenantSinks`
   * changed while they had data. Their access export, erasure, retention
   * rules and legal holds would reach only the new sink, so the old records
   * would escape all of them. One problem per tenant and sink; one indexed
   * lookup each.
   */
  async strayTenantRecords(tenantIds: readonly string[]): Promise<string[]> {
    if (this.sinks.size < 2) return [];
    const problems: string[] = [];
    for (const tenantId of tenantIds) {
      const pinned = this.sinkNameFor(tenantId);
      for (const [name, sink] of this.sinks) {
        if (name === pinned || (await sink.queryRecords({ tenantId, limit: 1 })).length === 0) continue;
        problems.push(`storage.tenantSinks: tenant "${tenantId}" is stored in sink "${pinned}" but has records in sink "${name}"; `
          + `moving a tenant between sinks is not supported: restore its former sink for it`);
      }
    }
    return problems;
  }

  /** Fails fast: a sink that cannot start stops the gateway from starting. */
  async start(): Promise<void> {
    for (const sink of this.sinks.values()) await sink.start();
  }

  async close(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.#writers.values()].map((w) => w.close(timeoutMs)));
    for (const sink of this.sinks.values()) await sink.close();
  }

  async health(): Promise<StorageHealth> {
    const sinks: StorageHealth['sinks'] = {};
    for (const [name, sink] of this.sinks) {
      const writer = this.byName(this.#writers, name).state;
      const h = await sink.health();
      sinks[name] = { ...h, ok: h.ok && writer.healthy, writer };
    }
    return { ok: Object.values(sinks).every((s) => s.ok), sinks };
  }
}
