/**
 * Sink implementations by type name. A new sink type registers a factory
 * here and must pass test/sinks/sink-contract.test.ts.
 */
import { isAbsolute, join } from 'node:path';
import { PostgresSink } from './postgres-sink.ts';
import type { SinkSettings } from '../config/sinks-config.ts';
import { SqliteSink } from './sqlite-sink.ts';
import type { StorageSink } from './storage-sink.ts';

export interface SinkContext {
  /** Relative SQLite paths resolve here (the gateway's dataDir). */
  readonly dataDir: string;
}

type Factory<S extends SinkSettings> = (name: string, settings: S, context: SinkContext) => StorageSink;

const FACTORIES: { [T in SinkSettings['type']]: Factory<Extract<SinkSettings, { type: T }>> } = {
  sqlite: (name, s, ctx) => new SqliteSink(name, {
    path: s.path === ':memory:' || isAbsolute(s.path) ? s.path : join(ctx.dataDir, s.path),
    durability: s.durability,
  }),
  postgres: (name, s) => new PostgresSink(name, { connectionString: s.connectionString, durability: s.durability, poolSize: s.poolSize }),
};

/** Builds (does not start) the sink described by validated settings. */
export function createSink(name: string, settings: SinkSettings, context: SinkContext = { dataDir: 'data' }): StorageSink {
  const factory = FACTORIES[settings.type] as Factory<SinkSettings>;
  return factory(name, settings, context);
}
