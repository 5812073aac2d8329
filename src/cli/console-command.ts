/**
 * `thingiq console`: prints a one-time link that signs this machine's
 * browser in to the console of the gateway running on this data directory,
 * as the local operator. The link is made by the gateway (through its mTLS
 * listener, with the local operator's certificate), used once, valid 60 s.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { TiqError } from '../errors.ts';
import { readLockHolder } from '../instance/data-dir-lock.ts';
import { action, cliConfig } from './context.ts';
import { runningGatewayClient } from './state-path.ts';

export function registerConsoleCommand(program: Command, out: (text: string) => void = (t) => process.stdout.write(t)): void {
  program.command('console')
    .description('print a one-time sign-in link (single use, valid 60 s) to the web console of the gateway running here')
    .action(action(async (_opts: unknown, cmd: Command) => {
      const dataDir = resolve(cliConfig(cmd).config.dataDir);
      const client = runningGatewayClient(dataDir);
      const holder = readLockHolder(dataDir);
      if (!client || holder === undefined || holder === 'unknown' || !holder.admin) {
        throw new TiqError('TIQ_ERR_UNREACHABLE', { problems: [`no gateway runs on ${dataDir}: start it with \`thingiq start\``] });
      }
      const link = await client.json('POST', '/v1/console/sign-in-links', {});
      // The browser checks the server certificate against the name it dials: the one the CLI verifies too.
      const mtls = new URL(holder.admin.url);
      const host = holder.admin.servername ?? mtls.hostname;
      out(`Open this link within 60 seconds (it works once):\n  https://${host}:${String(link['port'])}${String(link['path'])}\n`);
    }));
}
