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
  /** CPU µs per acknowledged message: each gateway node, then the shared parts. */
  readonly cpuUsPerMsg: Record<string, number>;
  readonly stored: { missing: number; duplicated: number };
}

async function measure(cluster: Cluster, label: string, opts: { devices: number; window: number; warmupMs: number; durationMs: number }): Promise<PhaseResult> {
  const devices = Array.from({ length: opts.devices }, (_, i) => ({ tenantId: 'acme', deviceId: `${label}-${i}`, pem: cluster.pki.device('acme', `${label}-${i}`) }));
  const load = new QosOneLoad(cluster.haproxy.ports.mqtt, devices, opts.window);
  await load.connected(60_000);
  load.start();
  await new Promise((r) => setTimeout(r, opts.warmupMs));
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
  const a = sample();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  const b = sample();
  await load.stop();
  const acked = b.acked - a.acked;
  const seconds = Number(b.at - a.at) / 1e9;
  const per = (cpuS: number) => Math.round((cpuS * 1e6) / Math.max(1, acked) * 10) / 10;
  const cpuUsPerMsg: Record<string, number> = {};
  cluster.nodes.forEach((n, i) => { cpuUsPerMsg[n.name] = per(b.nodes[i]! - a.nodes[i]!); });
  cpuUsPerMsg['postgres'] = per(b.postgres - a.postgres);
  cpuUsPerMsg['nats'] = per(b.nats - a.nats);
  cpuUsPerMsg['haproxy'] = per(b.haproxy - a.haproxy);
  cpuUsPerMsg['load-generator'] = per((b.generator.user - a.generator.user + b.generator.system - a.generator.system) / 1e6);
  const check = await checkExactlyOnce(cluster.databaseUrl, load.acked());
  await load.close();
  return { label, nodes: cluster.nodes.length, msgsPerSecond: Math.round(acked / seconds), acked, seconds: Math.round(seconds * 10) / 10, cpuUsPerMsg,
    stored: { missing: check.missing.length, duplicated: check.duplicated.length } };
}

function table(rows: readonly PhaseResult[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r.cpuUsPerMsg)))];
  const head = ['run', 'nodes', 'msgs/s', ...cols.map((c) => `${c} µs/msg`), 'stored once'];
  const lines = rows.map((r) => [r.label, String(r.nodes), String(r.msgsPerSecond), ...cols.map((c) => r.cpuUsPerMsg[c] === undefined ? '' : String(r.cpuUsPerMsg[c])),
    r.stored.missing === 0 && r.stored.duplicated === 0 ? 'yes' : `NO (${r.stored.missing} missing, ${r.stored.duplicated} duplicated)`]);
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

export async function runClusterBench(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: {
    cluster: { type: 'string', default: '3' }, devices: { type: 'string', default: '60' }, window: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' },
  }, strict: true });
  const nodes = Number(values.cluster);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 8) throw new Error('--cluster must be a whole number of nodes in [2, 8]');
  const opts = { devices: Number(values.devices), window: Number(values.window), warmupMs: Number(values.warmup) * 1000, durationMs: Number(values.duration) * 1000 };
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
