/** CPU of process trees from /proc (Linux): a gateway, nats-server, HAProxy (master and worker), PostgreSQL. */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds } from './proc-stats.ts';

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** User + system CPU seconds of the process, its live descendants and the children it has reaped. */
export function processTreeCpuSeconds(pid: number): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
    // utime, stime (own) and cutime, cstime (children it has waited for): proc(5) fields 14-17.
    const reaped = (Number(f[13]) + Number(f[14])) / 100;
    return cpuSeconds(pid) + reaped + children(pid).reduce((s, c) => s + processTreeCpuSeconds(c), 0);
  } catch {
    return 0;
  }
}

/** The postmaster listening on this port (its command line names it), with its backends. */
export function postgresCpuSeconds(port: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmd[0]?.endsWith('postgres')) continue;
      const i = cmd.indexOf('-p');
      if (i >= 0 && cmd[i + 1] === String(port)) return processTreeCpuSeconds(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return 0;
}
