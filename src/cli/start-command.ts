import type { Command } from 'commander';
import { Gateway } from '../gateway/gateway.ts';
import { createLogger } from '../log.ts';
import { cliConfig, exitCodeFor, reportError } from './context.ts';
import { parseWorkers, runPrimary, workerConfig, workerIndex, workerRawConfig } from './workers.ts';

export function registerStartCommand(program: Command): void {
  program.command('start')
    .description('run the gateway (config/gateway.yaml if present, else development defaults)')
    .option('--workers <n>', 'run n gateway processes sharing the ports, one cluster node each (needs the cluster section; default 1)')
    .action(async (opts: { workers?: string }, cmd: Command) => {
      const worker = workerIndex();
      if (worker === undefined && opts.workers !== undefined) {
        let workers: number;
        try {
          workers = parseWorkers(opts.workers);
        } catch (err) {
          reportError(err);
          process.exit(exitCodeFor(err));
        }
        if (workers > 1) {
          await startPrimary(cmd, workers);
          return;
        }
      }
      await startNode(cmd, worker);
    });
}

async function startPrimary(cmd: Command, workers: number): Promise<void> {
  try {
    const loaded = cliConfig(cmd);
    const log = createLogger(loaded.config.log.level);
    const code = await runPrimary(loaded.config, process.cwd(), workers, log);
    process.exit(code);
  } catch (err) {
    reportError(err);
    process.exit(exitCodeFor(err));
  }
}

/** One gateway: the whole of `thingiq start`, or one worker of `--workers N`. */
async function startNode(cmd: Command, worker: number | undefined): Promise<void> {
  let gateway: Gateway;
  try {
    const loaded = cliConfig(cmd);
    const log = createLogger(loaded.config.log.level);
    log.info({ event: 'config_loaded', source: loaded.source ?? '(development defaults)', ...(worker ? { worker } : {}) }, 'configuration loaded');
    const config = worker ? workerConfig(loaded.config, process.cwd(), worker) : loaded.config;
    const asWorker = worker ? { clusterWorker: worker, adaptConfig: (raw: unknown) => workerRawConfig(raw, process.cwd(), worker) } : {};
    gateway = await Gateway.start({ config, logger: log, ...(loaded.source ? { configPath: loaded.source } : {}), ...asWorker });
  } catch (err) {
    reportError(err);
    process.exit(exitCodeFor(err));
  }
  process.send?.({ type: 'ready' });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.log.info({ event: 'stopping', signal }, 'draining in-flight messages');
    gateway.close().then(() => process.exit(0), (err: unknown) => { reportError(err); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => gateway.reloadFromFile());
  // A worker whose primary is gone (killed) drains and ends rather than serving on unsupervised.
  if (worker) process.on('disconnect', () => stop('primary-gone'));
}
