/**
 * Reads the V8 CPU profiles a target process wrote with `--cpu-prof` (one per
 * thread: the main thread and each worker thread, such as the SQLite writer)
 * and aggregates the self time of the samples that fall inside a measured
 * window: per component (npm package, gateway source folder, Node subsystem,
 * GC) and per function, in µs per acknowledged message and as a share of the
 * thread's busy time. Samples carry CLOCK_MONOTONIC µs, the clock the target
 * reports its window in (target-messages.ts), so no alignment is guessed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ThreadProfile {
  /** 'main' or 'worker N' (N: Node's thread id), with what the thread runs when it can be told. */
  readonly thread: string;
  readonly profile: CpuProfile;
}

export interface Share { readonly name: string; readonly us: number; readonly usPerMsg: number; readonly pctOfBusy: number }

export interface ThreadBreakdown {
  readonly thread: string;
  /** Sampled time inside the window that was not idle, µs per message. */
  readonly busyUsPerMsg: number;
  readonly components: readonly Share[];
  readonly functions: readonly Share[];
}

/** Profiles written by one process (file names: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile). */
export function readThreadProfiles(dir: string, pid: number): ThreadProfile[] {
  const out: ThreadProfile[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(f);
    if (!m || Number(m[1]) !== pid) continue;
    const profile = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const tid = Number(m[2]);
    const urls = profile.nodes.map((n) => n.callFrame.url).join(' ');
    const role = /sqlite-worker/.test(urls) ? ' (SQLite writer)' : '';
    out.push({ thread: tid === 0 ? 'main' : `worker ${tid}${role}`, profile });
  }
  return out.sort((a, b) => a.thread.localeCompare(b.thread));
}

const NODE_GROUPS: [RegExp, string][] = [
  [/^node:(internal\/)?(streams|stream)/, 'node: streams'],
  [/^node:(_tls|tls|internal\/tls)/, 'node: tls'],
  [/^node:(net|internal\/net|internal\/stream_base_commons|internal\/js_stream_socket)/, 'node: net'],
  [/^node:(internal\/)?crypto/, 'node: crypto'],
  [/^node:(worker_threads|internal\/worker|internal\/per_context\/messageport)/, 'node: worker messaging'],
  [/^node:(internal\/process\/task_queues|internal\/timers|timers|internal\/async_hooks)/, 'node: timers, ticks, microtasks'],
  [/^node:(events|internal\/event_target)/, 'node: events'],
  [/^node:(buffer|internal\/buffer)/, 'node: buffer'],
];

/** The component a frame's own time is charged to; undefined for native frames (charged to their caller's). */
function componentOf(f: CallFrame): string | undefined {
  switch (f.functionName) {
    case '(garbage collector)': return 'V8: garbage collector';
    case '(program)': return 'V8/native: unattributed (program)';
    case '(idle)': return '(idle)';
    case '(root)': return '(root)';
  }
  const url = f.url;
  if (!url) return undefined;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split('/');
    return `npm: ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const own = /\/(dist|src)\/([^/]+)\//.exec(url);
  if (own && !url.includes('/bench/')) return `gateway: ${own[2]}`;
  if (/\/(dist|src)\/[^/]+\.[jt]s$/.test(url)) return 'gateway: (top level)';
  if (url.startsWith('node:')) return NODE_GROUPS.find(([re]) => re.test(url))?.[1] ?? 'node: other';
  if (url.includes('/bench/')) return 'bench harness';
  return 'other';
}

function frameName(f: CallFrame, component: string): string {
  const file = f.url ? f.url.replace(/^.*\/(node_modules|dist|src)\//, '').replace(/^file:\/\//, '') : '';
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : '[native]'} — ${component}`;
}

/** Self time per node inside [startUs, endUs): each sample weighs the interval until the next one. */
function selfTimes(p: CpuProfile, startUs: number, endUs: number): Map<number, number> {
  const self = new Map<number, number>();
  let t = p.startTime;
  const n = p.samples.length;
  for (let i = 0; i < n; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < startUs || t >= endUs) continue;
    // A sample stands for the time until the next one; a long gap (the thread slept) is capped.
    const next = Math.min(p.timeDeltas[i + 1] ?? 1000, 10_000);
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + next);
  }
  return self;
}

/** Aggregates one thread's profile over one window; `messages` divides it into µs per message. */
export function breakdown(tp: ThreadProfile, startUs: number, endUs: number, messages: number, topFunctions = 25): ThreadBreakdown {
  const p = tp.profile;
  const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const parent = new Map<number, number>();
  for (const nd of p.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id);
  const componentCache = new Map<number, string>();
  const resolve = (id: number): string => {
    const cached = componentCache.get(id);
    if (cached) return cached;
    const nd = byId.get(id)!;
    const own = componentOf(nd.callFrame);
    const pid = parent.get(id);
    const c = own ?? (pid === undefined ? 'V8/native: unattributed (program)' : resolve(pid));
    componentCache.set(id, c);
    return c;
  };
  const comps = new Map<string, number>();
  const funcs = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfTimes(p, startUs, endUs)) {
    const comp = resolve(id);
    if (comp === '(idle)' || comp === '(root)') continue;
    busy += us;
    comps.set(comp, (comps.get(comp) ?? 0) + us);
    const name = frameName(byId.get(id)!.callFrame, comp);
    funcs.set(name, (funcs.get(name) ?? 0) + us);
  }
  const per = Math.max(1, messages);
  const shares = (m: Map<string, number>, limit: number): Share[] => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name, us]) => ({ name, us: Math.round(us), usPerMsg: round(us / per), pctOfBusy: round((100 * us) / Math.max(1, busy)) }));
  return { thread: tp.thread, busyUsPerMsg: round(busy / per), components: shares(comps, 40), functions: shares(funcs, topFunctions) };
}

const round = (v: number): number => Math.round(v * 100) / 100;

/** Coarse groups for the summary table in docs/benchmark.md: what bare aedes also does, and what the gateway adds. */
export const COMPONENT_GROUPS: readonly [string, RegExp][] = [
  ['TLS and socket writes (PUBACKs, fan-out)', /^node: (streams|net|tls)$/],
  ['aedes, mqtt-packet and their helpers', /^npm: (aedes|aedes-.*|mqtt-packet|qlobber|bl|mqemitter|fastparallel|fastfall|debug|reusify|end-of-stream|retimer|hyperid)$/],
  ['crypto: content digest (HMAC), AES-GCM, key cache', /^(node: crypto|gateway: keys)$/],
  ['storage hand-off: batching writer, packing, postMessage', /^(gateway: sinks|node: worker messaging|node: buffer)$/],
  ['SQLite (better-sqlite3: inserts, COMMIT, fsync)', /^npm: better-sqlite3$/],
  ['garbage collector (on this thread)', /^V8: garbage collector$/],
  ['pipeline: decode, validate, privacy, re-encode, record id', /^(gateway: (pipeline|messages|privacy)|npm: protobufjs)$/],
  ['gateway hooks: ACL, ordered acks, gate, limits, guarded socket', /^gateway: (broker|limits|control|gateway|retention|identity|instance|audit|observability)$/],
  ['metrics (prom-client)', /^npm: prom-client$/],
  ['timers, ticks, microtasks, events', /^node: (timers, ticks, microtasks|events)$/],
];

export function groupOf(component: string): string {
  return COMPONENT_GROUPS.find(([, re]) => re.test(component))?.[0] ?? 'other (native, unattributed, Node internals)';
}

/** The components of one thread folded into COMPONENT_GROUPS, as shares of its busy time. */
export function grouped(b: ThreadBreakdown): { name: string; pct: number }[] {
  const m = new Map<string, number>();
  for (const c of b.components) m.set(groupOf(c.name), (m.get(groupOf(c.name)) ?? 0) + c.pctOfBusy);
  return [...m.entries()].sort((x, y) => y[1] - x[1]).map(([name, pct]) => ({ name, pct: round(pct) }));
}

/**
 * A printable table of one thread's components (and its top functions when asked). Samples are taken
 * on wall time, so on a busy machine a thread's sampled time exceeds its CPU time (descheduled, or
 * blocked in fsync); with `cpuUsPerMsg` (the thread's CPU from /proc) the shares are also shown as
 * CPU µs per message.
 */
export function breakdownTable(b: ThreadBreakdown, withFunctions: boolean, cpuUsPerMsg?: number): string {
  const scale = cpuUsPerMsg === undefined ? undefined : cpuUsPerMsg / 100;
  const cpu = (pct: number): string => (scale === undefined ? '' : `${(pct * scale).toFixed(2).padStart(7)} µs CPU`);
  const lines = [`${b.thread}: ${b.busyUsPerMsg.toFixed(1)} µs/msg sampled${cpuUsPerMsg === undefined ? '' : `, ${cpuUsPerMsg} µs/msg CPU (/proc)`}`];
  for (const c of b.components) lines.push(`  ${c.usPerMsg.toFixed(2).padStart(7)} µs  ${c.pctOfBusy.toFixed(1).padStart(5)} %${cpu(c.pctOfBusy)}  ${c.name}`);
  if (withFunctions) {
    lines.push('  top functions (self time):');
    for (const f of b.functions) lines.push(`  ${f.usPerMsg.toFixed(2).padStart(7)} µs  ${f.pctOfBusy.toFixed(1).padStart(5)} %${cpu(f.pctOfBusy)}  ${f.name}`);
  }
  return lines.join('\n');
}
