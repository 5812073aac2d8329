/** CPU and memory of another process, from /proc (Linux), so the broker is measured from outside. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process has used (10 ms resolution at the usual 100 Hz). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself contain spaces and parentheses (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** CPU seconds per thread of a process, keyed `name/tid` (name: comm); the main thread (tid = pid) as 'main'. */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : `${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).trim()}/${tid}`;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / clockTicks();
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

/** From schedstat: seconds runnable but waiting for a CPU, and how many times the thread was run. */
export interface RunQueueWait {
  readonly waitS: number;
  readonly slices: number;
}

/**
 * Per thread of a process, its time runnable but waiting for a CPU and its
 * number of timeslices (the second and third fields of
 * /proc/<pid>/task/<tid>/schedstat; Documentation/scheduler/sched-stats),
 * keyed like threadCpuSeconds. Empty when the kernel keeps no schedstat.
 */
export function threadRunQueueWait(pid: number): Record<string, RunQueueWait> {
  const out: Record<string, RunQueueWait> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const [, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const name = tid === String(pid) ? 'main' : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()}/${tid}`;
      if (Number.isFinite(wait) && Number.isFinite(slices)) out[name] = { waitS: wait! / 1e9, slices: slices! };
    } catch {
      // the thread ended between listing and reading, or no schedstat
    }
  }
  return out;
}

function statusField(pid: number, name: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(/\s+/)[1]) * 1024 : NaN;
}

export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

export function peakRssBytes(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** Resets VmHWM to the current RSS (proc(5), clear_refs "5"); false when the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
