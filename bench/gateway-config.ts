/**
 * The gateway's configuration for the benchmark: one tenant whose privacy
 * policy coarsens location to 1 km cells, one subscribing application, the
 * local key provider and the default durable SQLite sink (fsync), all under
 * the run's temporary directory. Parsed by the gateway's own parseConfig.
 */
import { BENCH_APP, BENCH_TENANT } from './bench-pki.ts';

export const SQLITE_FILE = 'thingiq.db';

export function benchGatewayConfig(pkiDir: string, dataDir: string, durability: 'fsync' | 'process' = 'fsync'): Record<string, unknown> {
  return {
    mqtt: { host: '127.0.0.1', serverHosts: ['localhost', '127.0.0.1'] },
    // Loopback and port 0: a bench run must not collide with a gateway already listening on 8443/8444.
    admin: { host: '127.0.0.1', port: 0, mtlsPort: 0 },
    pkiDir,
    dataDir,
    // Per-message logging would measure the log pipe; refusals still show as warnings.
    log: { level: 'warn' },
    tenants: {
      [BENCH_TENANT]: {
        apps: { [BENCH_APP]: {} },
        privacy: {
          policyId: 'bench-coarsen',
          version: 1,
          defaults: { '*': { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } },
        },
      },
    },
    keys: { provider: 'local' },
    storage: {
      sinks: { default: { type: 'sqlite', path: SQLITE_FILE, durability } },
      defaultSink: 'default',
      // The gateway's defaults unless an experiment sets BENCH_GATEWAY_BATCH_DELAY_MS.
      ...(process.env['BENCH_GATEWAY_BATCH_DELAY_MS'] ? { batching: { maxBatchDelayMs: Number(process.env['BENCH_GATEWAY_BATCH_DELAY_MS']) } } : {}),
    },
  };
}

/**
 * V8 flags the gateway runs with in production (its start command and systemd unit), so the bench uses them
 * too; BENCH_GATEWAY_NODE_FLAGS (space-separated, may be empty) replaces them for an experiment.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = process.env['BENCH_GATEWAY_NODE_FLAGS'] !== undefined
  ? process.env['BENCH_GATEWAY_NODE_FLAGS'].split(' ').filter(Boolean)
  : [];
