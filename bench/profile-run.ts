/**
 * `npm run bench -- --profile`: after the load runs, each Node target's
 * per-thread CPU profiles are cut to every run's measured window and
 * aggregated (profile-report.ts), beside what the target's main thread
 * reported for the window (event-loop utilisation, allocation, GC) and the
 * CPU /proc charged to each of its threads (V8's GC helpers, libuv's pool).
 */
import { breakdown, breakdownTable, grouped, readThreadProfiles, type ThreadBreakdown } from './profile-report.ts';
import { scenarioName, type LoadRow } from './report.ts';
import type { RunningTarget } from './targets/target-process.ts';

export interface ProfiledRun {
  readonly target: string;
  readonly run: string;
  readonly messages: number;
  readonly eventLoopUtilization: number | undefined;
  readonly allocatedKiBPerMsg: number | undefined;
  readonly gcPauseUsPerMsg: number | undefined;
  readonly gcByType: Record<string, { count: number; pauseMs: number }> | undefined;
  readonly threadCpuUsPerMsg: Record<string, number>;
  readonly threads: readonly ThreadBreakdown[];
}

export function profileReport(dir: string, targets: readonly RunningTarget[], rows: readonly LoadRow[]): { text: string; data: ProfiledRun[] } {
  const data: ProfiledRun[] = [];
  const text: string[] = ['CPU profiles: self time inside each measured window, µs per acknowledged message (share of the thread\'s busy time)'];
  for (const t of targets) {
    const threads = readThreadProfiles(dir, t.pid);
    if (threads.length === 0) continue;
    for (const r of rows.filter((x) => x.target === t.name)) {
      const w = r.m.probe;
      if (!w) continue;
      const messages = Math.round(r.m.msgsPerSec * (r.m.measuredMs / 1000));
      const per = Math.max(1, messages);
      const run: ProfiledRun = {
        target: t.name,
        run: `${scenarioName(r.scenario)} ${r.mode === 'max' ? 'max' : `${Math.round(r.ratePerSec)}/s`}`,
        messages,
        eventLoopUtilization: w.eventLoopUtilization,
        allocatedKiBPerMsg: Math.round((w.allocatedBytes / 1024 / per) * 100) / 100,
        gcPauseUsPerMsg: Math.round(((w.gcPauseMs * 1000) / per) * 100) / 100,
        gcByType: w.gcByType,
        threadCpuUsPerMsg: r.m.threadCpuUsPerMsg,
        threads: threads.map((tp) => breakdown(tp, w.startUs, w.endUs, messages)),
      };
      data.push(run);
      text.push('', `== ${run.target}, ${run.run}: ${messages} messages, ${r.m.brokerCpuUsPerMsg} µs/msg CPU (all threads, /proc)`,
        `event loop utilisation ${(run.eventLoopUtilization ?? NaN).toFixed(2)}; main-thread allocation ${run.allocatedKiBPerMsg} KiB/msg; GC pauses ${run.gcPauseUsPerMsg} µs/msg ${JSON.stringify(run.gcByType)}`,
        `CPU by thread (/proc), µs/msg: ${Object.entries(run.threadCpuUsPerMsg).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      for (const b of run.threads) {
        // The main thread's CPU is known exactly; the SQLite writer is the process's busiest other thread.
        const cpu = b.thread === 'main' ? run.threadCpuUsPerMsg['main'] : b.thread.includes('SQLite') ? run.threadCpuUsPerMsg['busiest other'] : undefined;
        if (b.busyUsPerMsg <= 0.5) continue;
        text.push(breakdownTable(b, true, cpu));
        text.push(`  grouped (${b.thread}):`);
        for (const g of grouped(b)) text.push(`  ${g.pct.toFixed(1).padStart(5)} %${cpu === undefined ? '' : `${((g.pct * cpu) / 100).toFixed(1).padStart(7)} µs CPU`}  ${g.name}`);
      }
    }
  }
  return { text: text.join('\n'), data };
}
