/**
 * `npm run bench -- --cluster N`: the same QoS 1 load through HAProxy against
 * one gateway process (no `cluster` section) and then against a cluster of N
 * processes (NATS, membership, leader), both on one PostgreSQL (control store
 * and sink), in one run on this machine. Reports aggregate acknowledged
 * msgs/s, CPU µs per message of each gateway node and of PostgreSQL, NATS,
 * HAProxy and the load generator, so the bottleneck is visible; then checks
 * that every acknowledged message is stored once. See docs/scaling.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster, type Cluster } from '../test/cluster/harness/cluster.ts';
import { QosOneLoad } from '../test/cluster/harness/load.ts';
import { waitUntil } from '../test/cluster/harness/processes.ts';
import { checkExactlyOnce } from '../test/cluster/harness/records.ts';
import { processTreeCpuSeconds, postgresCpuSeconds } from './cluster-cpu.ts';

const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

interface PhaseResult {
  readonly label: string;
  readonly nodes: number;
  readonly msgsPerSecond: number;
  readonly acked: number;
  readonly seconds: number;
  /** CPU µs per acknowledged message: each gateway node, all nodes together, then the shared parts. */
  readonly cpuUsPerMsg: Record<string, number>;
  /** The same less what each part spends idle (heartbeats, timers, listeners), measured before the load. */
  readonly marginalUsPerMsg: Record<string, number>;
  /** CPU ms per second of each part with every device connected and nothing published. */
  readonly idleCpuMsPerS: Record<string, number>;
  readonly stored: { missing: number; duplicated: number };
}

interface MeasureOptions { readonly devices: number; readonly window: number; readonly idleMs: number; readonly warmupMs: number; readonly durationMs: number }

async function measure(cluster: Cluster, label: string, opts: MeasureOptions): Promise<PhaseResult> {
  const devices = Array.from({ length: opts.devices }, (_, i) => ({ tenantId: 'acme', deviceId: `${label}-${i}`, pem: cluster.pki.device('acme', `${label}-${i}`) }));
  const load = new QosOneLoad(cluster.haproxy.ports.mqtt, devices, opts.window);
  await load.connected(60_000);
  const pgPort = Number(new URL(cluster.databaseUrl).port);
  const sample = () => ({
    acked: load.ackedCount,
    at: process.hrtime.bigint(),
    nodes: cluster.nodes.map((n) => processTreeCpuSeconds(n.pid)),
    postgres: postgresCpuSeconds(pgPort),
    nats: processTreeCpuSeconds(cluster.nats.pid),
    haproxy: processTreeCpuSeconds(cluster.haproxy.pid),
    generator: process.cpuUsage(),
  });
  type Sample = ReturnType<typeof sample>;
  /** CPU seconds of each part between two samples. */
  const spent = (a: Sample, b: Sample): Record<string, number> => {
    const out: Record<string, number> = {};
    cluster.nodes.forEach((n, i) => { out[n.name] = b.nodes[i]! - a.nodes[i]!; });
    out['all nodes'] = cluster.nodes.reduce((s, _n, i) => s + b.nodes[i]! - a.nodes[i]!, 0);
    out['postgres'] = b.postgres - a.postgres;
    out['nats'] = b.nats - a.nats;
    out['haproxy'] = b.haproxy - a.haproxy;
    out['load-generator'] = (b.generator.user - a.generator.user + b.generator.system - a.generator.system) / 1e6;
    return out;
  };
  // Idle: every device connected, nothing published; what each part costs per second regardless of load.
  const i0 = sample();
  await new Promise((r) => setTimeout(r, opts.idleMs));
  const i1 = sample();
  const idleSeconds = Number(i1.at - i0.at) / 1e9;
  const idle = Object.fromEntries(Object.entries(spent(i0, i1)).map(([k, v]) => [k, v / idleSeconds]));
  load.start();
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  const a = sample();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  const b = sample();
  await load.stop();
  const acked = b.acked - a.acked;
  const seconds = Number(b.at - a.at) / 1e9;
  const round = (x: number) => Math.round(x * 10) / 10;
  const busy = spent(a, b);
  const cpuUsPerMsg = Object.fromEntries(Object.entries(busy).map(([k, v]) => [k, round((v * 1e6) / Math.max(1, acked))]));
  const marginalUsPerMsg = Object.fromEntries(Object.entries(busy).map(([k, v]) => [k, round(((v - idle[k]! * seconds) * 1e6) / Math.max(1, acked))]));
  const idleCpuMsPerS = Object.fromEntries(Object.entries(idle).map(([k, v]) => [k, round(v * 1000)]));
  const check = await checkExactlyOnce(cluster.databaseUrl, load.acked());
  await load.close();
  return { label, nodes: cluster.nodes.length, msgsPerSecond: Math.round(acked / seconds), acked, seconds: round(seconds), cpuUsPerMsg, marginalUsPerMsg, idleCpuMsPerS,
    stored: { missing: check.missing.length, duplicated: check.duplicated.length } };
}

const PARTS = ['all nodes', 'postgres', 'nats', 'haproxy', 'load-generator'];

function table(rows: readonly PhaseResult[]): string {
  const nodes = [...new Set(rows.flatMap((r) => Object.keys(r.cpuUsPerMsg).filter((k) => k.startsWith('node-'))))];
  const cols = [...nodes, ...PARTS];
  const head = ['run', 'msgs/s', 'figure', ...cols, 'stored once'];
  const lines = rows.flatMap((r) => {
    const once = r.stored.missing === 0 && r.stored.duplicated === 0 ? 'yes' : `NO (${r.stored.missing} missing, ${r.stored.duplicated} duplicated)`;
    const row = (figure: string, v: Record<string, number>) => [r.label, String(r.msgsPerSecond), figure, ...cols.map((c) => v[c] === undefined ? '' : String(v[c])), once];
    return [row('CPU µs/msg', r.cpuUsPerMsg), row('less idle, µs/msg', r.marginalUsPerMsg), row('idle CPU ms/s', r.idleCpuMsPerS)];
  });
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

export async function runClusterBench(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: {
    cluster: { type: 'string', default: '3' }, devices: { type: 'string', default: '60' }, window: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' }, idle: { type: 'string', default: '5' },
  }, strict: true });
  const nodes = Number(values.cluster);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 8) throw new Error('--cluster must be a whole number of nodes in [2, 8]');
  const opts: MeasureOptions = { devices: Number(values.devices), window: Number(values.window), idleMs: Number(values.idle) * 1000,
    warmupMs: Number(values.warmup) * 1000, durationMs: Number(values.duration) * 1000 };
  const started = new Date();
  const rows: PhaseResult[] = [];
  log('single process (no cluster section), PostgreSQL sink and control store, behind HAProxy');
  const single = await startCluster({ nodes: 1, overrides: { cluster: undefined } });
  try {
    rows.push(await measure(single, 'single', opts));
  } finally {
    await single.close();
  }
  log(`cluster of ${nodes} nodes (NATS bus, membership, leader), same PostgreSQL setup, behind HAProxy`);
  const cluster = await startCluster({ nodes });
  try {
    await waitUntil('every node live', () => cluster.nodes.every((n) => n.running), 10_000);
    rows.push(await measure(cluster, `cluster-${nodes}`, opts));
  } finally {
    await cluster.close();
  }
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? '', loadavg: loadavg().map((l) => Math.round(l * 100) / 100) };
  console.log(`\nCluster benchmark (${opts.devices} devices, window ${opts.window}, ${opts.durationMs / 1000} s measured; ${machine.cpus} cores: ${machine.model}; load average before the end ${machine.loadavg.join(' ')})\n`);
  console.log(table(rows));
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `cluster-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ started: started.toISOString(), machine, options: opts, rows }, null, 2)}\n`);
  console.log(`\nresults in ${file}`);
}
