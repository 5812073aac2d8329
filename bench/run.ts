/**
 * `npm run bench`: bare aedes, the full ThingIQ gateway and mosquitto, driven
 * alternately in one run with the same certificates by a lean load generator
 * in its own process. Prints tables and writes bench/results/<timestamp>.json.
 * See docs/benchmark.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { BENCH_TENANT, createBenchPki, issueScaleDevices, telemetryTopic, type BenchPki } from './bench-pki.ts';
import { GeneratorClient } from './generator-client.ts';
import { benchGatewayConfig, GATEWAY_NODE_FLAGS, SQLITE_FILE } from './gateway-config.ts';
import { isolationTable, runIsolation, type IsolationResult } from './isolation.ts';
import { profileReport } from './profile-run.ts';
import { measureLoad, measureScale } from './measure.ts';
import type { Endpoint } from './mqtt-connection.ts';
import { parseBenchOptions, USAGE, type BenchOptions, type Scenario } from './options.ts';
import type { LoadSpec } from './publish-load.ts';
import { inflightTable, loadRatios, loadTable, ratioTable, scaleRatios, scaleTable, scenarioName, targetChecks, targetTable, type LoadRow, type ScaleRow } from './report.ts';
import { checkStorage, type StorageCheck } from './storage-check.ts';
import { mosquittoInstalled, startMosquitto, startNodeTarget, type RunningTarget } from './targets/target-process.ts';

const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

function fileLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}

/** dist/ as `thingiq start` runs it (the gateway target loads the compiled JavaScript). */
async function ensureGatewayBuilt(): Promise<void> {
  if (process.env['BENCH_GATEWAY_FROM_SOURCE'] === '1') return;
  const build = new URL('../bin/build.js', import.meta.url).href;
  const { ensureBuilt } = (await import(build)) as { ensureBuilt: () => void };
  ensureBuilt();
}

async function startTargets(opts: BenchOptions, pki: BenchPki, work: string, notes: string[], profileDir?: string): Promise<RunningTarget[]> {
  const tls = { caPem: pki.caPem, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem };
  const targets: RunningTarget[] = [];
  for (const name of opts.targets) {
    if (name === 'aedes' || name === 'aedes1') targets.push(await startNodeTarget(name, { kind: 'start-aedes', tls }, { profileDir }));
    if (name === 'gateway' || name === 'gateway-aedes1') {
      // The second gateway (on aedes 1.2.0) gets a base directory of its own: its SQLite file is relative to it.
      const baseDir = name === 'gateway' ? work : join(work, name);
      mkdirSync(baseDir, { recursive: true });
      const config = benchGatewayConfig(pki.dir, join(baseDir, 'gateway-data'), opts.durability);
      targets.push(await startNodeTarget(name, { kind: 'start-gateway', config, baseDir }, { profileDir, nodeFlags: GATEWAY_NODE_FLAGS }));
    }
    if (name === 'mosquitto') {
      if (mosquittoInstalled()) targets.push(await startMosquitto(work, { caPath: pki.caPath, certPath: pki.serverCertPath, keyPath: pki.serverKeyPath }));
      else notes.push('mosquitto is not installed (/usr/sbin/mosquitto): skipped');
    }
  }
  return targets;
}

function endpointOf(t: RunningTarget): Endpoint {
  return { host: '127.0.0.1', port: t.port, servername: 'localhost' };
}

function loadSpec(opts: BenchOptions, pki: BenchPki, t: RunningTarget, s: Scenario, ratePerSec: number, runIndex: number, stalled = false, window = opts.window): LoadSpec {
  const subscriber = { ...pki.subscriber, topic: `tenants/${BENCH_TENANT}/#` };
  return {
    endpoint: endpointOf(t), caPem: pki.caPem, keyPem: pki.clientKeyPem,
    devices: pki.devices.slice(0, s.devices).map((d) => ({ ...d, topic: telemetryTopic(d.id) })),
    subscriber,
    // The same application under another client id: a second session of the tenant's app that stops reading.
    stalledSubscriber: stalled ? { ...subscriber, id: `${subscriber.id}-stalled` } : undefined,
    payloadBytes: s.payloadBytes, window, ratePerSec,
    warmupMs: opts.warmupMs, durationMs: opts.durationMs,
    // Sequences increase across runs, so the gateway's store (unique per device and sequence) sees each message once.
    sequenceBase: runIndex * 10_000_000 + 1,
    drainTimeoutMs: 15_000,
  };
}

/** Rotates the order per scenario so no target always runs first (warm caches, thermal state, neighbours' load). */
function rotate<T>(items: readonly T[], by: number): T[] {
  return items.map((_x, i) => items[(i + by) % items.length]!);
}

async function runLoadScenarios(opts: BenchOptions, pki: BenchPki, targets: RunningTarget[], gen: GeneratorClient, notes: string[]) {
  const rows: LoadRow[] = [];
  const gatewayAcked = new Map<string, number>();
  let runIndex = 0;
  const once = async (t: RunningTarget, s: Scenario, mode: LoadRow['mode'], rate: number, v: 4 | 5 = 4): Promise<void> => {
    const label = `${scenarioName(s)} ${t.name}${v === 5 ? ' v5' : ''} ${mode === 'max' ? 'max rate' : mode === 'inflight' ? `window ${INFLIGHT_WINDOW}` : `${Math.round(rate)} msgs/s`}`;
    try {
      const window = mode === 'inflight' ? INFLIGHT_WINDOW : opts.window;
      const m = await measureLoad(t, gen, { ...loadSpec(opts, pki, t, s, rate, ++runIndex, false, window), protocolVersion: v });
      rows.push({ scenario: s, target: t.name, mode, ratePerSec: rate, m, ...(v === 5 ? { protocol: 5 as const } : {}) });
      if (t.name === 'gateway') for (const [d, n] of Object.entries(m.ackedByDevice)) gatewayAcked.set(d, (gatewayAcked.get(d) ?? 0) + n);
      log(`${label}: ${m.msgsPerSec.toFixed(0)} msgs/s, p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms, broker CPU ${m.brokerCpuCores} cores, subscriber missing ${m.subscriber.missing} dup ${m.subscriber.duplicates}`);
    } catch (err) {
      notes.push(`${label} failed: ${(err as Error).message.split('\n')[0]}`);
      log(`${label} FAILED: ${(err as Error).message}`);
    }
  };
  for (const [i, s] of opts.scenarios.entries()) {
    const order = rotate(targets, i);
    for (const t of order) await once(t, s, 'max', 0);
    // MQTT 5 clients (mosquitto's v5 is not the point here: the aedes versions and the gateway on them are).
    if (opts.mqtt5) for (const t of order) await once(t, s, 'max', 0, 5);
    // Light load: CPU per message off saturation (batches are small, fixed costs per batch and per wake-up show).
    if (i === 0 && opts.fixedRate > 0) for (const t of order) await once(t, s, 'fixed', opts.fixedRate);
    if (!opts.halfRate) continue;
    for (const t of order) {
      const max = rows.find((r) => r.scenario === s && r.target === t.name && r.mode === 'max');
      if (max && max.m.msgsPerSec > 0) await once(t, s, 'half', max.m.msgsPerSec / 2);
    }
  }
  // Memory per message in flight: 200 devices × window 50, RSS growth over the run (not in profile mode).
  if (!opts.loadOnly) for (const t of rotate(targets, 1)) await once(t, { devices: 200, payloadBytes: 64 }, 'inflight', 0);
  return { rows, gatewayAcked };
}

const INFLIGHT_WINDOW = 50;

/** The gateway with and without a stalled subscriber in the measured tenant, on the first scenario. */
async function runIsolationScenario(opts: BenchOptions, pki: BenchPki, targets: RunningTarget[], gen: GeneratorClient, gatewayAcked: Map<string, number>, notes: string[]): Promise<IsolationResult | undefined> {
  const gateway = targets.find((t) => t.name === 'gateway');
  if (!gateway) return undefined;
  const s = opts.scenarios[0]!;
  try {
    // Run indexes past the load scenarios' keep every run's sequences apart.
    const r = await runIsolation(gateway, gen, (stalled, i) => loadSpec(opts, pki, gateway, s, 0, 900 + i, stalled), opts.quick ? 1 : 2, log);
    for (const row of r.rows) for (const [d, n] of Object.entries(row.m.ackedByDevice)) gatewayAcked.set(d, (gatewayAcked.get(d) ?? 0) + n);
    return r;
  } catch (err) {
    notes.push(`isolation scenario failed: ${(err as Error).message.split('\n')[0]}`);
    log(`isolation scenario FAILED: ${(err as Error).message}`);
    return undefined;
  }
}

async function runScale(opts: BenchOptions, pki: BenchPki, targets: RunningTarget[], gen: GeneratorClient, notes: string[]): Promise<ScaleRow[]> {
  const from = Math.max(...opts.scenarios.map((s) => s.devices));
  log(`issuing ${opts.connections} device certificates for the connection-scale test`);
  const clients = issueScaleDevices(pki, from, opts.connections);
  const rows: ScaleRow[] = [];
  for (const t of targets) {
    try {
      const m = await measureScale(t, gen, { endpoint: endpointOf(t), caPem: pki.caPem, keyPem: pki.clientKeyPem, clients, concurrency: 16, idleMs: 1000 });
      rows.push({ target: t.name, connections: opts.connections, m });
      log(`scale ${t.name}: ${m.full.connected} connected, ${(m.bytesPerConnection / 1024).toFixed(1)} KiB/conn, full ${m.fullCpuMsPerConnection} ms CPU/conn, resumed ${m.resumption.resumed}/${m.resumption.connected} at ${m.resumedCpuMsPerConnection} ms CPU/conn`);
      if (m.full.failed || m.resumption.failed) notes.push(`scale ${t.name}: ${m.full.failed} full and ${m.resumption.failed} resumed connections failed (${m.full.firstError ?? m.resumption.firstError})`);
    } catch (err) {
      notes.push(`scale ${t.name} failed: ${(err as Error).message.split('\n')[0]}`);
      log(`scale ${t.name} FAILED: ${(err as Error).message}`);
    }
  }
  return rows;
}

function machine(): Record<string, unknown> {
  const c = cpus();
  return { cores: c.length, cpuModel: c[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}`, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverage: loadavg().map((l) => Math.round(l * 100) / 100) };
}

async function main(): Promise<void> {
  // `--cluster N`: one gateway process against N cluster nodes on PostgreSQL and NATS (bench/cluster.ts, docs/scaling.md).
  if (process.argv.slice(2).some((a) => a === '--cluster' || a.startsWith('--cluster='))) {
    const { runClusterBench } = await import('./cluster.ts');
    return runClusterBench(process.argv.slice(2));
  }
  const opts = parseBenchOptions(process.argv.slice(2), fileLimit());
  if (opts === 'help') { console.log(USAGE); return; }
  const started = new Date();
  const notes: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'thingiq-bench-'));
  const machineAtStart = machine();
  if (opts.durability !== 'fsync') notes.push(`gateway sink durability ${opts.durability}: a diagnosis run, not comparable with the targets`);
  log(`work dir ${work}; ${opts.quick ? 'quick' : 'full'} run; machine ${JSON.stringify(machineAtStart)}`);
  const pki = createBenchPki(work, Math.max(200, ...opts.scenarios.map((s) => s.devices)));
  if (opts.targets.some((t) => t.startsWith('gateway'))) await ensureGatewayBuilt();
  const profileDir = opts.profile ? join(work, 'profiles') : undefined;
  const targets = await startTargets(opts, pki, work, notes, profileDir);
  const gen = new GeneratorClient();
  let storage: StorageCheck | undefined;
  let load: Awaited<ReturnType<typeof runLoadScenarios>>;
  let isolation: IsolationResult | undefined;
  let scale: ScaleRow[];
  let running = targets;
  let profile: ReturnType<typeof profileReport> | undefined;
  try {
    load = await runLoadScenarios(opts, pki, targets, gen, notes);
    if (opts.loadOnly) {
      // The profiles are written as each target's threads exit.
      for (const t of targets) await t.stop();
      running = [];
      if (profileDir) profile = profileReport(profileDir, targets, load.rows);
      scale = [];
    } else {
    isolation = await runIsolationScenario(opts, pki, targets, gen, load.gatewayAcked, notes);
    // Fresh broker processes: memory per connection is read against a baseline the load runs have not inflated.
    for (const t of targets) await t.stop();
    running = await startTargets(opts, pki, work, []);
    scale = await runScale(opts, pki, running, gen, notes);
    }
  } finally {
    gen.close();
    for (const t of running) await t.stop();
  }
  if (targets.some((t) => t.name === 'gateway')) {
    storage = checkStorage(join(work, 'gateway-data', SQLITE_FILE), BENCH_TENANT, load.gatewayAcked);
    if (storage.note) notes.push(storage.note);
  }
  const ratios = loadRatios(load.rows, opts.scenarios);
  const result = {
    startedAt: started.toISOString(), finishedAt: new Date().toISOString(), elapsedS: Math.round((Date.now() - started.getTime()) / 1000),
    machine: { ...machineAtStart, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    options: { ...opts, resultsDir: undefined },
    load: load.rows.map((r) => ({ scenario: r.scenario, target: r.target, mode: r.mode, ratePerSec: Math.round(r.ratePerSec), ...r.m, ackedByDevice: undefined })),
    ratios,
    isolation: isolation && { ...isolation, rows: isolation.rows.map((r) => ({ stalled: r.stalled, ...r.m, ackedByDevice: undefined })) },
    scale: scale.map((r) => ({ target: r.target, connections: r.connections, ...r.m })), scaleRatios: scaleRatios(scale),
    storage, notes, profile: profile?.data,
    targets: [] as ReturnType<typeof targetChecks>,
  };
  result.targets = targetChecks(ratios, result.scaleRatios['memoryPerConnectionGatewayOverAedes']);
  console.log(`\nThroughput and latency (QoS 1, window ${opts.window}/device, ${opts.durationMs / 1000} s measured per run)\n`);
  console.log(loadTable(load.rows));
  console.log('\nRatios (gateway over baseline; p99 in ms at half of each target\'s own maximum rate)\n');
  console.log(ratioTable(ratios));
  if (load.rows.some((r) => r.mode === 'inflight')) {
    console.log(`\nMemory with 10,000 messages in flight (200 devices × window ${INFLIGHT_WINDOW}, 64 B, max rate)\n`);
    console.log(inflightTable(load.rows));
  }
  if (profile) console.log(`\n${profile.text}`);
  if (isolation) {
    console.log(`\nIsolation (gateway, ${scenarioName(opts.scenarios[0]!)}, max rate): one application of the tenant subscribes to everything and stops reading\n`);
    console.log(isolationTable(isolation));
  }
  if (scale.length) console.log(`\nConnection scale (${opts.connections} idle mTLS connections; CPU per connection = TLS handshake + CONNECT, broker process only)\n`);
  if (scale.length) {
    console.log(scaleTable(scale));
    console.log(`\n${JSON.stringify(result.scaleRatios)}`);
  }
  if (storage) console.log(`\nStorage: ${storage.status}: ${storage.rows} rows, ${storage.distinctSequences} distinct sequences, ${storage.acked} PUBACKs from the gateway`);
  if (targets.some((t) => t.name === 'gateway')) {
    console.log('\nPer-message targets (ratios to bare aedes in this run; durability fsync unless --durability says otherwise)\n');
    console.log(targetTable(result.targets));
  }
  for (const n of notes) console.log(`note: ${n}`);
  mkdirSync(opts.resultsDir, { recursive: true });
  const file = join(opts.resultsDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${result.elapsedS} s; results in ${file}`);
  rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
