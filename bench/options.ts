/** Command-line options of `npm run bench`. */
import { parseArgs } from 'node:util';
import type { TargetName } from './targets/target-process.ts';

export interface Scenario {
  readonly devices: number;
  readonly payloadBytes: number;
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly scenarios: readonly Scenario[];
  readonly targets: readonly TargetName[];
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly window: number;
  readonly connections: number;
  readonly halfRate: boolean;
  /** The gateway's SQLite durability: fsync (the default, what the targets are about) or process (diagnosis). */
  readonly durability: 'fsync' | 'process';
  /** Total msgs/s of the light-load run (20 × 64 B, open loop) that reads CPU per message off saturation; 0 = none. */
  readonly fixedRate: number;
  /** Profile mode: CPU profiles of every thread, aggregated per component and function (docs/benchmark.md). */
  readonly profile: boolean;
  /** Only the load scenarios (no in-flight memory, isolation or connection-scale runs): for A/B pairs. */
  readonly loadOnly: boolean;
  /** Each scenario's max-rate run again with MQTT 5 clients (rows marked v5). */
  readonly mqtt5: boolean;
  readonly resultsDir: string;
}

export const USAGE = `npm run bench -- [options]
  --quick             about a minute: two scenarios, short runs, 300 idle connections
  --duration SECONDS  measured seconds per run (default 6, quick 2.5)
  --window N          unacknowledged QoS 1 messages per device (default 8)
  --connections N     idle mTLS connections for the scale test (default 1000, quick 300; at most 10000 and ulimit -n)
  --targets LIST      comma-separated: aedes,gateway,mosquitto (default: all; mosquitto when installed),
                      and aedes1 / gateway-aedes1: bare aedes 1.2.0 and the gateway on it (docs/mqtt5.md)
  --durability MODE   the gateway sink's durability: fsync (default) or process (diagnosis only)
  --no-half-rate      skip the rate-limited runs at half the maximum rate
  --fixed-rate N      msgs/s of the light-load run at 20 × 64 B (default 4000; 0 = skip)
  --profile           CPU-profile the Node targets (main and worker threads) at 20 × 64 B and 200 × 512 B at max
                      rate and at --fixed-rate, and print where the time goes per component and function;
                      no half-rate, isolation or connection-scale runs (default targets: aedes,gateway)
  --load-only         only the load scenarios (max, fixed and half rate): for quick A/B pairs
  --mqtt5             also run each scenario's max rate with MQTT 5 clients (rows marked v5)
  --cluster N         instead: one gateway process, then a cluster of N, on PostgreSQL, NATS and HAProxy
                      (with --devices, --window, --duration, --warmup, --idle; docs/scaling.md)
  --help`;

const ALL_SCENARIOS: Scenario[] = [
  { devices: 20, payloadBytes: 64 },
  { devices: 20, payloadBytes: 512 },
  { devices: 200, payloadBytes: 64 },
  { devices: 200, payloadBytes: 512 },
];

export function parseBenchOptions(argv: readonly string[], fileLimit: number): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      window: { type: 'string' },
      connections: { type: 'string' },
      targets: { type: 'string' },
      'no-half-rate': { type: 'boolean', default: false },
      durability: { type: 'string', default: 'fsync' },
      'fixed-rate': { type: 'string' },
      profile: { type: 'boolean', default: false },
      'load-only': { type: 'boolean', default: false },
      mqtt5: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const num = (v: string | undefined, fallback: number, name: string, min: number, max: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in [${min}, ${max}]`);
    return n;
  };
  // Each idle connection holds a socket in the generator and one in the broker (separate processes); keep headroom.
  const maxConnections = Math.max(10, Math.min(10_000, fileLimit - 200));
  const profile = values.profile ?? false;
  const targets = (values.targets ?? (profile ? 'aedes,gateway' : 'aedes,gateway,mosquitto')).split(',').map((t) => t.trim());
  for (const t of targets) if (!['aedes', 'aedes1', 'gateway', 'gateway-aedes1', 'mosquitto'].includes(t)) throw new Error(`unknown target ${t}`);
  const durability = values.durability ?? 'fsync';
  if (durability !== 'fsync' && durability !== 'process') throw new Error('--durability must be fsync or process');
  return {
    quick,
    durability,
    scenarios: quick || profile ? [ALL_SCENARIOS[0]!, ALL_SCENARIOS[3]!] : ALL_SCENARIOS,
    targets: targets as TargetName[],
    warmupMs: quick ? 500 : 1000,
    durationMs: num(values.duration, quick ? 2.5 : 6, 'duration', 0.5, 600) * 1000,
    window: num(values.window, 8, 'window', 1, 1000),
    connections: Math.min(maxConnections, num(values.connections, quick ? 300 : 1000, 'connections', 1, 10_000)),
    halfRate: !values['no-half-rate'] && !profile,
    fixedRate: num(values['fixed-rate'], 4000, 'fixed-rate', 0, 1_000_000),
    profile,
    loadOnly: profile || (values['load-only'] ?? false),
    mqtt5: values.mqtt5 ?? false,
    resultsDir: new URL('./results/', import.meta.url).pathname,
  };
}
