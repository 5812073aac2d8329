/**
 * `thingiq start --workers N`: the primary process forks N workers (Node's
 * `cluster` module: https://nodejs.org/api/cluster.html), each a full
 * gateway node of the cluster with node id `<id>-w<i>`, sharing the
 * listening ports (the primary accepts and hands connections round-robin).
 * The primary serves nothing itself: it restarts a worker that dies (with
 * backoff), forwards SIGTERM and SIGINT so every worker drains, and exits
 * once they all have.
 *
 * Each worker has its own data directory, `<dataDir>/workers/w<i>` (its
 * lock, audit log and local files); what the workers of one machine share
 * stays in `<dataDir>`: the root key and keyring (unless configured
 * elsewhere). The idempotency digest key, as on any cluster node, is derived
 * from the cluster secret; no worker has an idempotency.key file.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertClusterReady } from '../cluster/cluster-checks.ts';
import { parseConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import { DataDirLock } from '../instance/data-dir-lock.ts';
import { CONTENT_DIGEST_SECRET_FILE } from '../keys/content-digest.ts';
import type { Logger } from '../log.ts';

/** The worker's index (1..N) travels in this variable; set only in workers. */
export const WORKER_ENV = 'THINGIQ_WORKER';
export const MAX_WORKERS = 64;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** A worker that ran this long before dying starts its backoff afresh. */
const STABLE_MS = 60_000;

export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`--workers: an integer from 1 to ${MAX_WORKERS}, not "${value}"`] });
  return n;
}

export function workerDataDir(dataDir: string, index: number): string {
  return join(dataDir, 'workers', `w${index}`);
}

/** This process's worker index under `--workers`, or undefined. */
export function workerIndex(): number | undefined {
  const v = process.env[WORKER_ENV];
  return cluster.isWorker && v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * A worker's configuration, as raw config (the file's, or a parsed one):
 * its own data directory, and the machine's root key and keyring (as
 * `<dataDir>` holds them) unless the config names them. Applied to every
 * reload too, so a reload does not read as a change of `dataDir`.
 */
export function workerRawConfig(raw: unknown, baseDir: string, index: number): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  const dataDir = resolve(baseDir, typeof r['dataDir'] === 'string' ? r['dataDir'] : 'data');
  const keys = objectOr(r['keys']);
  const local = objectOr(keys['local']);
  return {
    ...r,
    dataDir: workerDataDir(dataDir, index),
    keys: { ...keys, local: { ...local, keyringFile: local['keyringFile'] ?? join(dataDir, 'keyring.json'), rootKeyFile: local['rootKeyFile'] ?? join(dataDir, 'root.key') } },
  };
}

function objectOr(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

export function workerConfig(config: GatewayConfig, baseDir: string, index: number): GatewayConfig {
  return parseConfig(workerRawConfig(config, baseDir, index), `(worker ${index})`);
}

/**
 * Creates the workers' directories. A link to `<dataDir>/idempotency.key`
 * that an earlier version made there is removed (the file it points to is
 * left alone): the digest key comes from the cluster secret, one mechanism
 * for one secret.
 */
function prepareWorkerDirs(dataDir: string, count: number): void {
  for (let i = 1; i <= count; i++) {
    const dir = workerDataDir(dataDir, i);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(join(dir, CONTENT_DIGEST_SECRET_FILE), { force: true });
  }
}

interface Slot { worker: Worker | undefined; ready: boolean; startedAt: number; failures: number; timer?: NodeJS.Timeout }

/**
 * Runs the primary: checks cluster mode once (so a bad config is reported
 * once, not by every worker), forks the workers and keeps them running.
 * Resolves with the exit code once every worker has stopped.
 */
export function runPrimary(config: GatewayConfig, baseDir: string, count: number, log: Logger): Promise<number> {
  if (!config.cluster) {
    throw new TiqError('TIQ_ERR_CONFIG', { problems: ['--workers: more than one worker makes a cluster of this machine\'s cores; it needs the cluster section (PostgreSQL control store and sinks, NATS)'] });
  }
  assertClusterReady(config, baseDir);
  const dataDir = resolve(baseDir, config.dataDir);
  // The workers' directories are below this one: no gateway or offline command may use it meanwhile.
  const lock = DataDirLock.acquire(dataDir, 'gateway');
  prepareWorkerDirs(dataDir, count);
  const slots = new Map<number, Slot>();
  let stopping = false;
  let exitCode = 0;
  let done: (code: number) => void = () => undefined;
  const finished = new Promise<number>((r) => { done = r; });

  const fork = (index: number): void => {
    const slot = slots.get(index) ?? { worker: undefined, ready: false, startedAt: 0, failures: 0 };
    slots.set(index, slot);
    slot.startedAt = Date.now();
    slot.ready = false;
    const worker = cluster.fork({ [WORKER_ENV]: String(index) });
    slot.worker = worker;
    worker.on('message', (m: unknown) => { if ((m as { type?: string })?.type === 'ready') slot.ready = true; });
    worker.on('exit', (code, signal) => onExit(index, slot, code, signal));
  };

  const onExit = (index: number, slot: Slot, code: number | null, signal: string | null): void => {
    slot.worker = undefined;
    if (stopping) {
      log.info({ event: 'worker_stopped', worker: index, code, signal }, `worker ${index} stopped`);
      // The first failure's code stands (a refused start's 2 or 3); otherwise a worker that did not close cleanly makes it 1.
      if ((code ?? 1) !== 0 && exitCode === 0) exitCode = 1;
      if ([...slots.values()].every((s) => !s.worker)) finish();
      return;
    }
    // A worker refused at start for its configuration (2) or a port in use (3) would be refused again: the whole start fails.
    if (!slot.ready && (code === 2 || code === 3)) {
      log.error({ event: 'worker_refused', code: code === 2 ? 'TIQ_ERR_CONFIG' : 'TIQ_ERR_LISTEN', worker: index }, `worker ${index} could not start; stopping`);
      exitCode = code;
      stopAll('worker-refused');
      return;
    }
    if (Date.now() - slot.startedAt > STABLE_MS) slot.failures = 0;
    slot.failures += 1;
    const delayMs = Math.min(FIRST_BACKOFF_MS * 2 ** (slot.failures - 1), MAX_BACKOFF_MS);
    log.warn({ event: 'worker_restarting', worker: index, code, signal, delayMs }, `worker ${index} exited (${signal ?? code}); restarting in ${delayMs} ms`);
    slot.timer = setTimeout(() => { if (!stopping) fork(index); }, delayMs);
  };

  const finish = (): void => {
    lock.release();
    log.info({ event: 'workers_stopped', count }, 'every worker has stopped');
    done(exitCode);
  };

  const stopAll = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal, workers: count }, 'asking every worker to drain');
    for (const slot of slots.values()) {
      clearTimeout(slot.timer);
      slot.worker?.process.kill('SIGTERM');
    }
    if ([...slots.values()].every((s) => !s.worker)) finish();
  };

  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  // A reload applies in every worker.
  process.on('SIGHUP', () => { for (const s of slots.values()) s.worker?.process.kill('SIGHUP'); });
  log.info({ event: 'workers_starting', count, dataDirs: Array.from({ length: count }, (_, i) => workerDataDir(dataDir, i + 1)) }, `starting ${count} workers`);
  for (let i = 1; i <= count; i++) fork(i);
  return finished;
}
