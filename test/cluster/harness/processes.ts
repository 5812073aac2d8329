/**
 * Child processes of the cluster harness: each one's output kept for
 * assertions, stopped by signal, awaited on exit. A service binary that is
 * not installed fails the run under CI=true (never a skip).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Children still running; killed if this process exits without stopping them (a failed or interrupted run). */
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

export class Managed {
  readonly child: ChildProcess;
  #out = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(command, [...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => { this.#out += d.toString(); };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    live.add(this.child);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => { live.delete(this.child); resolve({ code, signal }); }));
  }

  output(): string {
    return this.#out;
  }

  /** Log lines (JSON) with this `event`. */
  events(event: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.#out.split('\n')) {
      if (!line.includes(`"event":"${event}"`)) continue;
      try { out.push(JSON.parse(line) as Record<string, unknown>); } catch { /* a partial line */ }
    }
    return out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends the signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/** The binary, or a clear error naming what to install. */
export function requireBinary(path: string, aptPackage: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`${path} is not installed (apt-get install ${aptPackage}); the cluster suite needs it`);
  }
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
