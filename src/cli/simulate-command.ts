import type { Command } from 'commander';
import { simulate } from '../simulator/simulate.ts';
import { action, cliConfig, pkiDirOf } from './context.ts';

export function registerSimulateCommand(program: Command): void {
  program.command('simulate')
    .description('publish realistic vehicle routes and sensor readings from N devices over mutual TLS')
    .requiredOption('--tenant <tenant>')
    .option('--devices <n>', 'number of devices', '3')
    .option('--rate <r>', 'messages per second per device', '1')
    .option('--duration <s>', 'seconds to run', '30')
    .option('--host <host>', 'gateway host', '127.0.0.1')
    .option('--port <port>', 'gateway MQTT port (default: from config)')
    .action(action(async (opts: Record<string, string>, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const result = await simulate({
        pkiDir: pkiDirOf(loaded), tenantId: opts['tenant']!, devices: Number(opts['devices']), rate: Number(opts['rate']),
        durationS: Number(opts['duration']), host: opts['host']!, port: Number(opts['port'] ?? loaded.config.mqtt.port),
        servername: 'localhost',
        onProgress: (s, a) => process.stderr.write(`\rsent ${s}, acknowledged ${a}`),
      });
      process.stderr.write('\n');
      process.stdout.write(`${JSON.stringify(result)}\n`);
      if (result.acknowledged < result.sent) process.exitCode = 1;
    }));
}
