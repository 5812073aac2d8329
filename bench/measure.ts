/**
 * One measured run against one target: the generator drives the load while
 * the broker process's CPU and memory are read from /proc at the marks the
 * generator reports.
 */
import type { ScaleResult, ScaleSpec } from './connection-scale.ts';
import type { GeneratorClient } from './generator-client.ts';
import { cpuSeconds, peakRssBytes, resetPeakRss, rssBytes } from './proc-stats.ts';
import type { LoadResult, LoadSpec } from './publish-load.ts';
import type { RunningTarget } from './targets/target-process.ts';

export interface LoadMeasurement extends LoadResult {
  /** Broker CPU seconds (user + system) inside the measured window. */
  readonly brokerCpuSeconds: number;
  /** Broker CPU as a share of one core inside the window. */
  readonly brokerCpuCores: number;
  /** Broker CPU microseconds per acknowledged message inside the window. */
  readonly brokerCpuUsPerMsg: number;
  /** Peak RSS of the broker during this run (VmHWM, reset before the run when the kernel allows). */
  readonly brokerPeakRssBytes: number;
  readonly peakRssReset: boolean;
  /** Generator CPU share inside the window: near 1.0 means the generator, not the broker, was the limit. */
  readonly generatorCpuCores: number;
}

export async function measureLoad(target: RunningTarget, generator: GeneratorClient, spec: LoadSpec): Promise<LoadMeasurement> {
  const peakRssReset = resetPeakRss(target.pid);
  const cpu: Record<string, number> = {};
  const gen: Record<string, number> = {};
  const result = await generator.load(spec, (name) => {
    cpu[name] = cpuSeconds(target.pid);
    gen[name] = cpuSeconds(generator.pid);
  });
  const brokerCpuSeconds = (cpu['measure-end'] ?? NaN) - (cpu['measure-start'] ?? NaN);
  const windowS = spec.durationMs / 1000;
  const ackedInWindow = result.msgsPerSec * windowS;
  return {
    ...result,
    brokerCpuSeconds: round(brokerCpuSeconds, 2),
    brokerCpuCores: round(brokerCpuSeconds / windowS, 2),
    brokerCpuUsPerMsg: round((brokerCpuSeconds * 1e6) / Math.max(1, ackedInWindow), 1),
    brokerPeakRssBytes: peakRssBytes(target.pid),
    peakRssReset,
    generatorCpuCores: round(((gen['measure-end'] ?? NaN) - (gen['measure-start'] ?? NaN)) / windowS, 2),
  };
}

export interface ScaleMeasurement extends ScaleResult {
  readonly rssBeforeBytes: number;
  readonly rssConnectedBytes: number;
  /** (RSS with N idle connections − RSS before) / N, both after a full GC in Node targets. */
  readonly bytesPerConnection: number;
  /** Broker CPU per connection: TLS handshake + MQTT CONNECT/CONNACK. */
  readonly fullCpuMsPerConnection: number;
  readonly resumedCpuMsPerConnection: number;
}

export async function measureScale(target: RunningTarget, generator: GeneratorClient, spec: ScaleSpec): Promise<ScaleMeasurement> {
  const cpu: Record<string, number> = {};
  const rss: Record<string, number> = {};
  const result = await generator.scale(spec, async (name) => {
    cpu[name] = cpuSeconds(target.pid);
    if (name === 'before-full' || name === 'full-connected') {
      await target.gc();
      await new Promise((r) => setTimeout(r, 200));
      rss[name] = rssBytes(target.pid);
    }
  });
  const perConn = (from: string, to: string, n: number): number => round((((cpu[to] ?? NaN) - (cpu[from] ?? NaN)) * 1000) / Math.max(1, n), 3);
  const before = rss['before-full'] ?? NaN;
  const connected = rss['full-connected'] ?? NaN;
  return {
    ...result,
    rssBeforeBytes: before,
    rssConnectedBytes: connected,
    bytesPerConnection: Math.round((connected - before) / Math.max(1, result.full.connected)),
    fullCpuMsPerConnection: perConn('before-full', 'full-connected', result.full.connected),
    resumedCpuMsPerConnection: perConn('before-resume', 'resumed-connected', result.resumption.connected),
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
