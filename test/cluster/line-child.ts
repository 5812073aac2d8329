/** A child process spoken to in JSON lines: one command per line in, one answer per line out, in order. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineChild {
  /** Sends one command; resolves with its answer. */
  ask<T = Record<string, unknown>>(command: object): Promise<T>;
  /** Resolves with the first line the child prints (its "ready" line). */
  readonly ready: Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  readonly process: ChildProcess;
}

export function startLineChild(script: string, env: Record<string, string>): LineChild {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.resolve(JSON.parse(line) as Record<string, unknown>));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`child exited ${code}: ${stderr.slice(-2000)}`));
  });
  const next = () => new Promise<Record<string, unknown>>((resolve, reject) => waiting.push({ resolve, reject }));
  const ready = next();
  return {
    ready,
    process: child,
    ask: <T>(command: object) => {
      const answer = next();
      child.stdin!.write(`${JSON.stringify(command)}\n`);
      return answer as Promise<T>;
    },
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.stdin!.end();
    }),
  };
}
