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

/**
 * One reading per thread of a process, keyed `name/tid` (name: comm), the
 * main thread (tid = pid) as 'main'; a thread that ended between listing and
 * reading, or gives no reading, is left out (summed when two share a key).
 */
function perThread<T>(pid: number, read: (taskDir: string) => T | undefined, add: (a: T, b: T) => T): Record<string, T> {
  const out: Record<string, T> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const dir = `/proc/${pid}/task/${tid}`;
    try {
      const value = read(dir);
      if (value === undefined) continue;
      const name = tid === String(pid) ? 'main' : `${readFileSync(`${dir}/comm`, 'utf8').trim()}/${tid}`;
      out[name] = out[name] === undefined ? value : add(out[name], value);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

/** CPU seconds per thread of a process (user + system, /proc/<pid>/task/<tid>/stat). */
export function threadCpuSeconds(pid: number): Record<string, number> {
  return perThread(pid, (dir) => {
    const stat = readFileSync(`${dir}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  }, (a, b) => a + b);
}

/** From schedstat: seconds runnable but waiting for a CPU, and how many times the thread was run. */
export interface RunQueueWait {
  readonly waitS: number;
  readonly slices: number;
}

/**
 * Per thread of a process, its time runnable but waiting for a CPU and its
 * number of timeslices (the second and third fields of
 * /proc/<pid>/task/<tid>/schedstat; Documentation/scheduler/sched-stats).
 * Empty when the kernel keeps no schedstat.
 */
export function threadRunQueueWait(pid: number): Record<string, RunQueueWait> {
  return perThread(pid, (dir) => {
    const [, wait, slices] = readFileSync(`${dir}/schedstat`, 'utf8').split(' ').map(Number);
    return Number.isFinite(wait) && Number.isFinite(slices) ? { waitS: wait! / 1e9, slices: slices! } : undefined;
  }, (a, b) => ({ waitS: a.waitS + b.waitS, slices: a.slices + b.slices }));
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
