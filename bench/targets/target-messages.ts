/** IPC between run.ts and a Node broker target (bare aedes or the gateway) running in its own process. */
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { GCProfiler, getHeapStatistics } from 'node:v8';

export interface TlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export type TargetRequest =
  | { readonly kind: 'start-aedes'; readonly tls: TlsMaterial }
  | { readonly kind: 'start-gateway'; readonly config: unknown; readonly baseDir: string }
  | { readonly kind: 'gc' }
  | { readonly kind: 'probe'; readonly phase: 'start' | 'end' }
  | { readonly kind: 'stop' };

/** What the target's main thread saw over one measured window (profile mode). */
export interface ProbeWindow {
  /** CLOCK_MONOTONIC µs at the window's ends: the clock V8's CPU profiles stamp samples with. */
  readonly startUs: number;
  readonly endUs: number;
  /** performance.eventLoopUtilization over the window (0..1). */
  readonly eventLoopUtilization: number;
  /** Main-thread heap: bytes allocated (sum of growth between collections) and the collections' pauses. */
  readonly allocatedBytes: number;
  readonly gcCount: number;
  readonly gcPauseMs: number;
  readonly gcByType: Record<string, { count: number; pauseMs: number }>;
}

export type TargetReport =
  | { readonly kind: 'ready'; readonly port: number }
  | { readonly kind: 'gc-done' }
  | { readonly kind: 'probed'; readonly window?: ProbeWindow }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'error'; readonly message: string };

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface GcStat {
  gcType: string;
  cost: number;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/** Event-loop utilisation and allocation/GC over one window, read by v8.GCProfiler (one GC entry per collection). */
class WindowProbe {
  #started: { us: number; elu: ReturnType<typeof performance.eventLoopUtilization>; used: number; gc: GCProfiler } | undefined;

  start(): void {
    allocationSampler?.start();
    const gc = new GCProfiler();
    gc.start();
    this.#started = { us: monotonicUs(), elu: performance.eventLoopUtilization(), used: getHeapStatistics().used_heap_size, gc };
  }

  end(): ProbeWindow | undefined {
    const s = this.#started;
    this.#started = undefined;
    if (!s) return undefined;
    const endUs = monotonicUs();
    allocationSampler?.stop();
    const elu = performance.eventLoopUtilization(s.elu).utilization;
    const stats = (s.gc.stop()?.statistics ?? []) as unknown as GcStat[];
    let allocated = 0;
    let used = s.used;
    const byType: Record<string, { count: number; pauseMs: number }> = {};
    for (const g of stats) {
      allocated += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - used);
      used = g.afterGC.heapStatistics.usedHeapSize;
      const t = (byType[g.gcType] ??= { count: 0, pauseMs: 0 });
      t.count++;
      t.pauseMs += g.cost / 1000;
    }
    allocated += Math.max(0, getHeapStatistics().used_heap_size - used);
    const pause = stats.reduce((n, g) => n + g.cost / 1000, 0);
    return { startUs: s.us, endUs, eventLoopUtilization: elu, allocatedBytes: allocated, gcCount: stats.length, gcPauseMs: pause, gcByType: byType };
  }
}

/**
 * BENCH_HEAP_PROF=<dir>: V8's sampling heap profiler over each measured
 * window, counting objects the young and old collections freed as well, so
 * the profile shows where the window allocated (what drives the GC), not
 * what it kept. One `.heapprofile` per window, read by bench/alloc-report.ts.
 */
class AllocationSampler {
  readonly #session = new Session();
  #windows = 0;

  constructor(private readonly dir: string) {
    this.#session.connect();
    this.#session.post('HeapProfiler.enable');
  }

  start(): void {
    this.#session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true,
    } as never);
  }

  stop(): void {
    this.#session.post('HeapProfiler.stopSampling', (err, result) => {
      if (err) return;
      writeFileSync(join(this.dir, `ALLOC.${process.pid}.${++this.#windows}.heapprofile`), JSON.stringify(result.profile));
    });
  }
}

const heapProfDir = process.env['BENCH_HEAP_PROF'];
const allocationSampler = heapProfDir ? new AllocationSampler(heapProfDir) : undefined;

/** The request loop both Node targets share: start once, collect garbage on demand, probe windows, stop. */
export function serveTarget(start: (req: TargetRequest) => Promise<{ port: number; stop(): Promise<void> }>): void {
  let running: { port: number; stop(): Promise<void> } | undefined;
  const probe = new WindowProbe();
  const report = (r: TargetReport): void => { process.send?.(r); };
  process.on('message', (m) => {
    const req = m as TargetRequest;
    void (async () => {
      try {
        if (req.kind === 'gc') {
          (globalThis as { gc?: () => void }).gc?.();
          report({ kind: 'gc-done' });
        } else if (req.kind === 'probe') {
          if (req.phase === 'start') { probe.start(); report({ kind: 'probed' }); } else report({ kind: 'probed', window: probe.end() });
        } else if (req.kind === 'stop') {
          await running?.stop();
          report({ kind: 'stopped' });
          process.disconnect?.();
        } else {
          running = await start(req);
          report({ kind: 'ready', port: running.port });
        }
      } catch (err) {
        report({ kind: 'error', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}
