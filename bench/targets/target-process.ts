/**
 * Starting and stopping the brokers under test, each in its own process:
 * bare aedes and the gateway as forked Node processes (IPC for readiness and
 * on-demand GC), mosquitto as a spawned binary.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import type { ProbeWindow, TargetReport, TargetRequest } from './target-messages.ts';

/** aedes1 and gateway-aedes1: the same on aedes 1.2.0 (the `aedes-v1` alias), for the aedes 2 comparison. */
export type TargetName = 'aedes' | 'aedes1' | 'gateway' | 'gateway-aedes1' | 'mosquitto';

export interface RunningTarget {
  readonly name: TargetName;
  readonly pid: number;
  readonly port: number;
  /** Full garbage collection in the broker before memory is read (no-op for mosquitto). */
  gc(): Promise<void>;
  /** Node targets: event-loop utilisation, allocation and GC of the main thread over a window. */
  probe?(phase: 'start' | 'end'): Promise<ProbeWindow | undefined>;
  stop(): Promise<void>;
}

const HERE = new URL('.', import.meta.url).pathname;

function request(child: ChildProcess, req: TargetRequest, expect: TargetReport['kind']): Promise<TargetReport> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: TargetReport): void => {
      if (m.kind === 'error') { cleanup(); reject(new Error(m.message)); return; }
      if (m.kind === expect) { cleanup(); resolve(m); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`target exited (${code}) before ${expect}`)); };
    const cleanup = (): void => { child.off('message', onMessage); child.off('exit', onExit); };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(req);
  });
}

export interface NodeTargetOptions {
  /** `--cpu-prof` into this directory: one profile per thread (main and workers), written when the target stops. */
  readonly profileDir?: string | undefined;
  /** Extra V8/Node flags (the gateway's come from its start command, see gatewayNodeFlags). */
  readonly nodeFlags?: readonly string[];
}

/**
 * Forks a Node target; `--expose-gc` so memory can be read after a full collection.
 * BENCH_CPU_PROF=<dir> (or options.profileDir) adds `--cpu-prof`.
 */
export async function startNodeTarget(name: 'aedes' | 'aedes1' | 'gateway' | 'gateway-aedes1', start: TargetRequest, options: NodeTargetOptions = {}): Promise<RunningTarget> {
  const profileDir = options.profileDir ?? process.env['BENCH_CPU_PROF'];
  // On aedes 1.2.0: `aedes` resolves to the `aedes-v1` alias on that process's main thread (aedes-v1-register.ts).
  const v1 = name.endsWith('aedes1');
  const script = name.startsWith('gateway') ? 'gateway' : 'aedes';
  const child = fork(join(HERE, `${script}-target.ts`), [], {
    env: { ...process.env, BENCH_AEDES_V1: v1 ? '1' : '0' },
    execArgv: ['--import', 'tsx', '--expose-gc', ...(options.nodeFlags ?? []), ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await request(child, start, 'ready');
  if (ready.kind !== 'ready') throw new Error('unexpected report');
  return {
    name, pid: child.pid!, port: ready.port,
    gc: async () => { await request(child, { kind: 'gc' }, 'gc-done'); },
    probe: async (phase) => {
      const r = await request(child, { kind: 'probe', phase }, 'probed');
      return r.kind === 'probed' ? r.window : undefined;
    },
    stop: async () => {
      await request(child, { kind: 'stop' }, 'stopped').catch(() => undefined);
      if (child.exitCode === null) await new Promise((r) => { child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(undefined); }, 5000); });
    },
  };
}

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto';

export function mosquittoInstalled(): boolean {
  return existsSync(MOSQUITTO_BINARY);
}

/** A free port for mosquitto, which cannot listen on port 0 and report it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`mosquitto did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export interface MosquittoFiles {
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** mosquitto 2.x with mutual TLS: the certificate's CN becomes the username; nothing persisted; TCP_NODELAY. */
export function mosquittoConfig(port: number, f: MosquittoFiles, logFile: string): string {
  return [
    'per_listener_settings false',
    'persistence false',
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    // The subscriber must receive every message: no queue limit, no in-flight limit (0 = none).
    'max_queued_messages 0',
    'max_inflight_messages 0',
    // TCP_NODELAY, as the gateway's listener (mqtt.tcpNoDelay) and the bare aedes target.
    'set_tcp_nodelay true',
    // As root, mosquitto would switch to the `mosquitto` user, which cannot read the 0600 keys of this run.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    `listener ${port} 127.0.0.1`,
    `cafile ${f.caPath}`,
    `certfile ${f.certPath}`,
    `keyfile ${f.keyPath}`,
    'require_certificate true',
    'use_identity_as_username true',
    'allow_anonymous false',
    '',
  ].join('\n');
}

export async function startMosquitto(workDir: string, files: MosquittoFiles): Promise<RunningTarget> {
  const port = await freePort();
  const conf = join(workDir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(port, files, join(workDir, 'mosquitto.log')));
  const child = spawn(MOSQUITTO_BINARY, ['-c', conf], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitForPort(port, 5000);
  return {
    name: 'mosquitto', pid: child.pid!, port,
    gc: async () => undefined,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => { child.once('exit', r); setTimeout(r, 3000); });
    },
  };
}
