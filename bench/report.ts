/** The printed tables and the ratios the targets are stated in. */
import type { LoadMeasurement, ScaleMeasurement } from './measure.ts';
import type { Scenario } from './options.ts';
import type { TargetName } from './targets/target-process.ts';

export interface LoadRow {
  readonly scenario: Scenario;
  readonly target: TargetName;
  /** max: closed loop; half: half the target's own max; fixed: --fixed-rate; inflight: 200 devices × window 50 (10,000 in flight). */
  readonly mode: 'max' | 'half' | 'fixed' | 'inflight';
  readonly ratePerSec: number;
  readonly m: LoadMeasurement;
  /** 5: the run's clients spoke MQTT 5 (--mqtt5); 3.1.1 otherwise. */
  readonly protocol?: 5;
}

export interface ScaleRow {
  readonly target: TargetName;
  readonly connections: number;
  readonly m: ScaleMeasurement;
}

export interface Ratios {
  readonly scenario: string;
  readonly throughputGatewayOverAedes: number | null;
  readonly throughputGatewayOverMosquitto: number | null;
  readonly cpuPerMsgGatewayOverAedes: number | null;
  /** The same at the fixed light load (first scenario only). */
  readonly cpuPerMsgAtFixedRateGatewayOverAedes: number | null;
  readonly p99AtHalfRateMs: Partial<Record<TargetName, number>>;
}

export const scenarioName = (s: Scenario): string => `${s.devices} dev × ${s.payloadBytes} B`;

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !b ? null : Math.round((a / b) * 100) / 100;

export function loadRatios(rows: readonly LoadRow[], scenarios: readonly Scenario[]): Ratios[] {
  return scenarios.map((s) => {
    const pick = (t: TargetName, mode: LoadRow['mode']): LoadMeasurement | undefined =>
      rows.find((r) => r.scenario === s && r.target === t && r.mode === mode && r.protocol === undefined)?.m;
    const p99: Partial<Record<TargetName, number>> = {};
    for (const t of ['aedes', 'gateway', 'mosquitto'] as const) {
      const half = pick(t, 'half');
      if (half) p99[t] = half.latencyMs.p99;
    }
    return {
      scenario: scenarioName(s),
      throughputGatewayOverAedes: ratio(pick('gateway', 'max')?.msgsPerSec, pick('aedes', 'max')?.msgsPerSec),
      throughputGatewayOverMosquitto: ratio(pick('gateway', 'max')?.msgsPerSec, pick('mosquitto', 'max')?.msgsPerSec),
      cpuPerMsgGatewayOverAedes: ratio(pick('gateway', 'max')?.brokerCpuUsPerMsg, pick('aedes', 'max')?.brokerCpuUsPerMsg),
      cpuPerMsgAtFixedRateGatewayOverAedes: ratio(pick('gateway', 'fixed')?.brokerCpuUsPerMsg, pick('aedes', 'fixed')?.brokerCpuUsPerMsg),
      p99AtHalfRateMs: p99,
    };
  });
}

export function scaleRatios(rows: readonly ScaleRow[]): Record<string, number | null> {
  const get = (t: TargetName): ScaleMeasurement | undefined => rows.find((r) => r.target === t)?.m;
  const out: Record<string, number | null> = {
    memoryPerConnectionGatewayOverAedes: ratio(get('gateway')?.bytesPerConnection, get('aedes')?.bytesPerConnection),
  };
  for (const r of rows) out[`resumedOverFullCpu.${r.target}`] = ratio(r.m.resumedCpuMsPerConnection, r.m.fullCpuMsPerConnection);
  return out;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
const fmt = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

export function loadTable(rows: readonly LoadRow[]): string {
  return table(
    ['scenario', 'target', 'mode', 'msgs/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU s', 'CPU µs/msg', 'main µs/msg', 'ELU', 'run-queue wait: main (µs each) / other', 'alloc KB/msg', 'gen cores', 'peak RSS MB', 'sub missing', 'sub dup'],
    rows.map((r) => [
      scenarioName(r.scenario), r.protocol === 5 ? `${r.target} v5` : r.target, modeLabel(r),
      r.m.msgsPerSec.toFixed(0), fmt(r.m.latencyMs.p50), fmt(r.m.latencyMs.p99), fmt(r.m.latencyMs.p999), fmt(r.m.brokerCpuSeconds),
      fmt(r.m.brokerCpuUsPerMsg, 1), fmt(r.m.threadCpuUsPerMsg['main'], 1), fmt(r.m.probe?.eventLoopUtilization),
      r.m.runQueueWait ? `${fmt(r.m.runQueueWait.main)} (${fmt(r.m.runQueueWait.mainMeanUs, 0)}) / ${fmt(r.m.runQueueWait.busiestOther)}` : '–',
      r.m.probe ? (r.m.probe.allocatedBytes / 1024 / Math.max(1, r.m.msgsPerSec * r.m.measuredMs / 1000)).toFixed(1) : '–',
      fmt(r.m.generatorCpuCores), mb(r.m.brokerPeakRssBytes),
      String(r.m.subscriber.missing), String(r.m.subscriber.duplicates),
    ]),
  );
}

function modeLabel(r: LoadRow): string {
  if (r.mode === 'max') return 'max';
  if (r.mode === 'inflight') return '10k in flight';
  return `${Math.round(r.ratePerSec)}/s${r.mode === 'fixed' ? ' fixed' : ''}`;
}

/** Peak RSS growth of each target over a run with 10,000 messages in flight, against the RSS just before it. */
export function inflightTable(rows: readonly LoadRow[]): string {
  return table(['target', 'RSS before MB', 'peak RSS MB', 'growth MB per 10k in flight'],
    rows.filter((r) => r.mode === 'inflight').map((r) => [r.target, mb(r.m.brokerRssBeforeBytes), mb(r.m.brokerPeakRssBytes), mb(r.m.brokerPeakRssBytes - r.m.brokerRssBeforeBytes)]));
}

export function ratioTable(ratios: readonly Ratios[]): string {
  return table(
    ['scenario', 'gw/aedes msgs/s', 'gw/mosq msgs/s', 'gw/aedes CPU/msg', 'same at fixed rate', 'p99@½ aedes', 'p99@½ gateway', 'p99@½ mosq'],
    ratios.map((r) => [
      r.scenario, fmt(r.throughputGatewayOverAedes), fmt(r.throughputGatewayOverMosquitto), fmt(r.cpuPerMsgGatewayOverAedes), fmt(r.cpuPerMsgAtFixedRateGatewayOverAedes),
      fmt(r.p99AtHalfRateMs.aedes), fmt(r.p99AtHalfRateMs.gateway), fmt(r.p99AtHalfRateMs.mosquitto),
    ]),
  );
}

export function scaleTable(rows: readonly ScaleRow[]): string {
  return table(
    ['target', 'conns', 'RSS before MB', 'KiB/conn', 'full/s', 'full CPU ms', 'resumed', 'resumed/s', 'resumed CPU ms'],
    rows.map((r) => [
      r.target, `${r.m.full.connected}/${r.connections}`, mb(r.m.rssBeforeBytes), (r.m.bytesPerConnection / 1024).toFixed(1),
      String(r.m.full.perSecond), fmt(r.m.fullCpuMsPerConnection, 3),
      `${r.m.resumption.resumed}/${r.m.resumption.connected}`, String(r.m.resumption.perSecond), fmt(r.m.resumedCpuMsPerConnection, 3),
    ]),
  );
}

/** One per-message target, as stated against bare aedes in the same run. */
export interface TargetCheck {
  readonly target: string;
  readonly measured: number | null;
  readonly limit: string;
  /** null: not measured in this run (a target or scenario left out). */
  readonly met: boolean | null;
}

/** The thresholds of the per-message targets: throughput ratio floors per scenario, the rest as ceilings. */
export const PER_MESSAGE_TARGETS = {
  cpuPerMsgRatioMax: 1.5,
  throughputRatioMin: { '20 dev × 64 B': 0.75, '200 dev × 512 B': 0.8 } as Record<string, number>,
  p99AtHalfRateMsMax: { scenario: '20 dev × 64 B', ms: 10 },
  memoryPerConnectionRatioMax: 1.2,
} as const;

/** Each target of the run, measured against its threshold. */
export function targetChecks(ratios: readonly Ratios[], memoryPerConnectionRatio: number | null | undefined): TargetCheck[] {
  const t = PER_MESSAGE_TARGETS;
  const check = (target: string, measured: number | null | undefined, limit: string, ok: (v: number) => boolean): TargetCheck => (
    { target, measured: measured ?? null, limit, met: measured === null || measured === undefined ? null : ok(measured) });
  const out: TargetCheck[] = [];
  for (const r of ratios) {
    const floor = t.throughputRatioMin[r.scenario];
    if (floor !== undefined) out.push(check(`${r.scenario}: msgs/s, gateway ÷ aedes`, r.throughputGatewayOverAedes, `≥ ${floor}`, (v) => v >= floor));
    out.push(check(`${r.scenario}: CPU per message, gateway ÷ aedes`, r.cpuPerMsgGatewayOverAedes, `≤ ${t.cpuPerMsgRatioMax}`, (v) => v <= t.cpuPerMsgRatioMax));
    if (r.scenario === t.p99AtHalfRateMsMax.scenario) {
      out.push(check(`${r.scenario}: gateway p99 at half its max, ms`, r.p99AtHalfRateMs.gateway, `≤ ${t.p99AtHalfRateMsMax.ms}`, (v) => v <= t.p99AtHalfRateMsMax.ms));
    }
  }
  out.push(check('memory per idle connection, gateway ÷ aedes', memoryPerConnectionRatio, `≤ ${t.memoryPerConnectionRatioMax}`, (v) => v <= t.memoryPerConnectionRatioMax));
  return out;
}

export function targetTable(checks: readonly TargetCheck[]): string {
  return table(['target', 'measured', 'limit', 'met'], checks.map((c) => [c.target, fmt(c.measured), c.limit, c.met === null ? '– (not measured)' : c.met ? 'yes' : 'NO']));
}
