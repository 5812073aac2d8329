/**
 * One measured run against one target: the generator drives the load while
 * the broker process's CPU and memory are read from /proc at the marks the
 * generator reports.
 */
import type { ScaleResult, ScaleSpec } from './connection-scale.ts';
import type { GeneratorClient } from './generator-client.ts';
import { cpuSeconds, peakRssBytes, resetPeakRss, rssBytes, threadCpuSeconds, threadRunQueueWait, type RunQueueWait } from './proc-stats.ts';
import type { ProbeWindow } from './targets/target-messages.ts';
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
  /** RSS of the broker just before the run (its connections from earlier runs closed). */
  readonly brokerRssBeforeBytes: number;
  /** Broker CPU µs per message by thread (main; the others by name, such as V8's GC helpers or libuv's pool). */
  readonly threadCpuUsPerMsg: Record<string, number>;
  /**
   * From schedstat, over the window: the share of it the broker's main thread spent runnable but waiting for a
   * CPU, the mean wait each time it was run (µs), and the share for its busiest other thread. On a machine with
   * fewer cores than runnable threads this is where latency goes.
   */
  readonly runQueueWait: { readonly main: number; readonly mainMeanUs: number; readonly busiestOther: number } | undefined;
  /** Node targets: the main thread's event-loop utilisation, allocation and GC over the window. */
  readonly probe?: ProbeWindow | undefined;
}

export async function measureLoad(target: RunningTarget, generator: GeneratorClient, spec: LoadSpec): Promise<LoadMeasurement> {
  const brokerRssBeforeBytes = rssBytes(target.pid);
  const peakRssReset = resetPeakRss(target.pid);
  const cpu: Record<string, number> = {};
  const gen: Record<string, number> = {};
  const threads: Record<string, Record<string, number>> = {};
  const waits: Record<string, Record<string, RunQueueWait>> = {};
  let probing: Promise<unknown> = Promise.resolve();
  let probe: ProbeWindow | undefined;
  const result = await generator.load(spec, (name) => {
    cpu[name] = cpuSeconds(target.pid);
    gen[name] = cpuSeconds(generator.pid);
    threads[name] = threadCpuSeconds(target.pid);
    waits[name] = threadRunQueueWait(target.pid);
    if (target.probe) {
      const phase = name === 'measure-start' ? 'start' : 'end';
      probing = probing.then(() => target.probe!(phase)).then((w) => { if (w) probe = w; }, () => undefined);
    }
  });
  await probing;
  const brokerCpuSeconds = (cpu['measure-end'] ?? NaN) - (cpu['measure-start'] ?? NaN);
  const windowS = spec.durationMs / 1000;
  const ackedInWindow = result.msgsPerSec * windowS;
  const threadCpuUsPerMsg = perThread(threads['measure-start'] ?? {}, threads['measure-end'] ?? {}, ackedInWindow);
  return {
    ...result,
    brokerCpuSeconds: round(brokerCpuSeconds, 2),
    brokerCpuCores: round(brokerCpuSeconds / windowS, 2),
    brokerCpuUsPerMsg: round((brokerCpuSeconds * 1e6) / Math.max(1, ackedInWindow), 1),
    brokerPeakRssBytes: peakRssBytes(target.pid),
    peakRssReset,
    generatorCpuCores: round(((gen['measure-end'] ?? NaN) - (gen['measure-start'] ?? NaN)) / windowS, 2),
    brokerRssBeforeBytes, threadCpuUsPerMsg, probe,
    runQueueWait: runQueueWaitShares(waits['measure-start'] ?? {}, waits['measure-end'] ?? {}, threads['measure-start'] ?? {}, threads['measure-end'] ?? {}, windowS),
  };
}

/** The main thread's run-queue wait, and that of the thread that used the most CPU after it, over the window. */
function runQueueWaitShares(w0: Record<string, RunQueueWait>, w1: Record<string, RunQueueWait>, c0: Record<string, number>, c1: Record<string, number>, windowS: number): LoadMeasurement['runQueueWait'] {
  const [m0, m1] = [w0['main'], w1['main']];
  if (m0 === undefined || m1 === undefined) return undefined;
  const busiest = Object.keys(c1).filter((k) => k !== 'main').sort((a, b) => (c1[b]! - (c0[b] ?? 0)) - (c1[a]! - (c0[a] ?? 0)))[0];
  const key = busiest === undefined ? undefined : Object.keys(w1).find((k) => k.endsWith(`/${busiest.split('/').at(-1)}`));
  const waited = (k: string | undefined): number => (k === undefined ? 0 : (w1[k]?.waitS ?? 0) - (w0[k]?.waitS ?? 0));
  return {
    main: round(waited('main') / windowS, 3),
    mainMeanUs: round((waited('main') * 1e6) / Math.max(1, m1.slices - m0.slices), 1),
    busiestOther: round(waited(key) / windowS, 3),
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

/**
 * Main thread, the busiest other thread (in the gateway, its SQLite writer: worker threads carry no name of
 * their own), and the rest summed by thread name (V8's GC helpers, libuv's pool, the profiler's thread).
 */
function perThread(start: Record<string, number>, end: Record<string, number>, messages: number): Record<string, number> {
  const used = Object.entries(end).map(([k, v]) => [k, v - (start[k] ?? 0)] as const).filter(([, v]) => v > 0);
  const others = used.filter(([k]) => k !== 'main').sort((a, b) => b[1] - a[1]);
  const out: Record<string, number> = {};
  const put = (k: string, s: number): void => { out[k] = round((out[k] ?? 0) + (s * 1e6) / Math.max(1, messages), 1); };
  for (const [k, v] of used) if (k === 'main') put('main', v);
  if (others[0]) put('busiest other', others[0][1]);
  for (const [k, v] of others.slice(1)) put(k.replace(/\/\d+$/, ''), v);
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
