/**
 * `npm run bench:admin`: what admin traffic does to devices. One device
 * publishes QoS 1 at a fixed rate (its own process) while, in turn:
 *   baseline  nothing else;
 *   groups    an operator replaces device groups of the largest allowed size
 *             (admin.maxGroupDevices ids) back to back, filling the tenant
 *             to admin.maxDeviceGroups groups;
 *   flood     500 unauthenticated requests/s reach the bearer-token listener.
 * Reported per phase: the device's PUBACK latency, the gateway's event-loop
 * delay, and for the flood the growth of the audit log. Targets (docs/benchmark.md):
 * loop max a few ms under group changes; flood p99 < 2 × baseline, audit < 100 KB.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT_FILE, auditDirOf } from '../src/audit/audit-log.ts';
import { issueClientCertificate } from '../src/pki/certificates.ts';
import { readCa } from '../src/pki/pki-store.ts';
import { createBenchPki, telemetryTopic } from './bench-pki.ts';
import { benchGatewayConfig } from './gateway-config.ts';
import type { LatencySummary } from './stats.ts';

const HERE = new URL('.', import.meta.url).pathname;
const log = (msg: string): void => { process.stderr.write(`[bench:admin] ${msg}\n`); };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { values } = parseArgs({ options: { duration: { type: 'string', default: '20' }, rate: { type: 'string', default: '200' }, flood: { type: 'string', default: '500' } } });
const PHASE_MS = Number(values.duration) * 1000;
const PROBE_RATE = Number(values.rate);
const FLOOD_RATE = Number(values.flood);
const MAX_GROUPS = 100;
const GROUP_SIZE = 1000;

/** BENCH_CPU_PROF=<dir> profiles the gateway process (as in `npm run bench`). */
function child(file: string, profile = false): ChildProcess {
  const dir = process.env['BENCH_CPU_PROF'];
  const prof = profile && dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
  return fork(join(HERE, file), [], { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask<T>(c: ChildProcess, req: Record<string, unknown>, kind: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { kind: string; message?: string }): void => {
      if (m.kind === 'error') { c.off('message', on); reject(new Error(m.message)); }
      if (m.kind === kind) { c.off('message', on); resolve(m as T); }
    };
    c.on('message', on);
    c.send(req);
  });
}

interface Tls { ca: string; cert?: string; key?: string }

function call(port: number, tls: Tls, agent: Agent, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, servername: 'localhost', agent, ...tls, headers: body ? { ...headers, 'content-type': 'application/json' } : headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

interface PhaseResult {
  readonly phase: string;
  readonly probe: LatencySummary;
  readonly probeFailures: number;
  readonly loop: { p50: number; p99: number; max: number };
  readonly extra: Record<string, number>;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'thingiq-bench-admin-'));
  const pki = createBenchPki(work, 1);
  const operator = issueClientCertificate(readCa(pki.dir), { kind: 'operator', operatorName: 'bench', uri: '' }, { publicKeyPem: pki.clientPublicKeyPem });
  const base = benchGatewayConfig(pki.dir, join(work, 'data'));
  const config = {
    ...base,
    admin: { host: '127.0.0.1', port: 0, mtlsPort: 0 },
    tenants: { ...(base['tenants'] as Record<string, unknown>), other: { apps: { dashboard: {} } } },
  };
  const gateway = child('admin-pressure-gateway.ts', true);
  const probe = child('admin-pressure-probe.ts');
  try {
    const ports = await ask<{ mqttPort: number; port: number; mtlsPort: number }>(gateway, { kind: 'start', config, baseDir: work }, 'ready');
    const device = pki.devices[0]!;
    await ask(probe, { kind: 'start', port: ports.mqttPort, caPem: pki.caPem, certPem: device.certPem, keyPem: pki.clientKeyPem, clientId: device.id, topic: telemetryTopic(device.id), ratePerSec: PROBE_RATE }, 'ready');
    const auditFile = join(auditDirOf(join(work, 'data')), AUDIT_FILE);
    const auditBytes = () => { try { return statSync(auditFile).size; } catch { return 0; } };

    const phase = async (name: string, load: (until: number) => Promise<Record<string, number>>): Promise<PhaseResult> => {
      await ask(probe, { kind: 'read' }, 'read');
      await ask(gateway, { kind: 'loop-reset' }, 'loop-reset');
      const extra = await load(Date.now() + PHASE_MS);
      const loop = await ask<PhaseResult['loop']>(gateway, { kind: 'loop-read' }, 'loop-read');
      const p = await ask<{ latency: LatencySummary; failures: number }>(probe, { kind: 'read' }, 'read');
      const r = { phase: name, probe: p.latency, probeFailures: p.failures, loop: { p50: loop.p50, p99: loop.p99, max: loop.max }, extra };
      log(`${name}: PUBACK p50 ${r.probe.p50} ms p99 ${r.probe.p99} ms max ${r.probe.max} ms; event loop p99 ${loop.p99} ms max ${loop.max} ms; ${JSON.stringify(extra)}`);
      return r;
    };
    const idle = async (until: number) => { await sleep(until - Date.now()); return {}; };

    await phase('warm-up', async () => { await sleep(3000); return {}; });
    const baseline = await phase('baseline', idle);

    const opTls: Tls = { ca: pki.caPem, cert: operator.certPem, key: pki.clientKeyPem };
    const opAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const groups = await phase('groups', async (until) => {
      let puts = 0;
      let failed = 0;
      const started = Date.now();
      for (let i = 0; Date.now() < until; i++) {
        const g = i % MAX_GROUPS;
        const devices = Array.from({ length: GROUP_SIZE }, (_, d) => `device-${String(g).padStart(3, '0')}-${String(d).padStart(4, '0')}-${i}-xxxxxxxxxxxxxxxx`);
        const status = await call(ports.mtlsPort, opTls, opAgent, 'PUT', `/v1/tenants/other/device-groups/g-${g}`, {}, JSON.stringify({ devices }));
        if (status === 200) puts++;
        else failed++;
      }
      return { puts, failed, putsPerSec: Math.round((puts / ((Date.now() - started) / 1000)) * 10) / 10, groupSize: GROUP_SIZE, groups: MAX_GROUPS };
    });
    opAgent.destroy();

    const auditBefore = auditBytes();
    const floodAgent = new Agent({ keepAlive: true, maxSockets: 16 });
    const flood = await phase('flood', async (until) => {
      const statuses: Record<string, number> = {};
      const inflight = new Set<Promise<void>>();
      const intervalMs = 1000 / FLOOD_RATE;
      let next = Date.now();
      let sent = 0;
      while (Date.now() < until) {
        const p: Promise<void> = call(ports.port, { ca: pki.caPem }, floodAgent, 'GET', '/v1/tenants', { authorization: `Bearer not-a-token-${sent % 97}` })
          .then((s) => { statuses[`status${s}`] = (statuses[`status${s}`] ?? 0) + 1; inflight.delete(p); });
        inflight.add(p);
        sent++;
        next += intervalMs;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
      await Promise.all(inflight);
      return { sent, requestsPerSec: Math.round(sent / (PHASE_MS / 1000)), ...statuses };
    });
    floodAgent.destroy();
    const after = await phase('after', idle);
    const auditGrowth = auditBytes() - auditBefore;
    log(`audit log grew by ${auditGrowth} bytes during and after the flood`);

    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const summary = {
      date: new Date().toISOString(), cpus: cpus().length, phaseSeconds: PHASE_MS / 1000, probeRatePerSec: PROBE_RATE, floodRatePerSec: FLOOD_RATE,
      phases: [baseline, groups, flood, after],
      groupsP99Ratio: ratio(groups.probe.p99, baseline.probe.p99),
      floodP99Ratio: ratio(flood.probe.p99, baseline.probe.p99),
      groupsLoopMaxMs: groups.loop.max,
      auditGrowthBytes: auditGrowth,
    };
    process.stdout.write(`${[
      'phase      PUBACK p50   p99    max  | loop p99   max  | load',
      ...summary.phases.map((r) => `${r.phase.padEnd(9)} ${String(r.probe.p50).padStart(8)} ${String(r.probe.p99).padStart(6)} ${String(r.probe.max).padStart(6)} | ${String(r.loop.p99).padStart(8)} ${String(r.loop.max).padStart(5)} | ${JSON.stringify(r.extra)}`),
      `groups p99 / baseline p99: ${summary.groupsP99Ratio}; event loop max under group changes: ${summary.groupsLoopMaxMs} ms`,
      `flood p99 / baseline p99: ${summary.floodP99Ratio}; audit growth: ${auditGrowth} bytes`,
    ].join('\n')}\n`);
    const results = join(HERE, 'results');
    mkdirSync(results, { recursive: true });
    writeFileSync(join(results, `admin-pressure-${summary.date.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await ask(probe, { kind: 'stop' }, 'never').catch(() => undefined);
    probe.kill();
    // Let it exit on its own (a CPU profile is written at exit); kill only a stuck one.
    const exited = new Promise((r) => gateway.once('exit', r));
    gateway.send({ kind: 'stop' });
    await Promise.race([exited, sleep(15_000)]);
    if (gateway.exitCode === null) gateway.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
