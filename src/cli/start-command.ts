import type { Command } from 'commander';
import { Gateway } from '../gateway/gateway.ts';
import { createLogger } from '../log.ts';
import { cliConfig, exitCodeFor, reportError } from './context.ts';

export function registerStartCommand(program: Command): void {
  program.command('start')
    .description('run the gateway (config/gateway.yaml if present, else development defaults)')
    .action(async (_opts: unknown, cmd: Command) => {
      let gateway: Gateway;
      try {
        const loaded = cliConfig(cmd);
        const log = createLogger(loaded.config.log.level);
        log.info({ event: 'config_loaded', source: loaded.source ?? '(development defaults)' }, 'configuration loaded');
        gateway = await Gateway.start({ config: loaded.config, logger: log, ...(loaded.source ? { configPath: loaded.source } : {}) });
      } catch (err) {
        reportError(err);
        process.exit(exitCodeFor(err));
      }
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
    });
}
