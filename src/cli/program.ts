/**
 * The `thingiq` command tree, built without parsing anything: main.ts runs
 * it, and tests enumerate its commands so that a new one is covered.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { recordShred } from '../control/shred-tombstone.ts';
import { withControlStore } from './control-access.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerBackupCommands } from './backup-commands.ts';
import { registerConfigCommands } from './config-commands.ts';
import { registerConsoleCommand } from './console-command.ts';
import { registerKeysCommands } from './keys-commands.ts';
import { registerPkiCommands } from './pki-commands.ts';
import { registerProvisioningCommands } from './provisioning-commands.ts';
import { registerSimulateCommand } from './simulate-command.ts';
import { registerStartCommand } from './start-command.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerRecordsCommands } from './records-commands.ts';
import { validateOptions } from './validate-options.ts';

export { commandPath } from './validate-options.ts';
import { configDecoder, lazyRecordOpener, openDataKeyStore } from './wiring.ts';

export interface ProgramOptions {
  /** Runs before an action, after its options were validated (main.ts installs its process handlers here). */
  readonly beforeAction?: (command: Command) => void;
}

export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command('thingiq')
    .description('ThingIQ Gateway: privacy-first MQTT telemetry gateway')
    .version(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string)
    .option('-c, --config <file>', 'configuration file (default: config/gateway.yaml if present, else development defaults)')
    .showHelpAfterError()
    // Set before the subcommands exist so that they inherit it: usage errors throw, and run.ts exits 2 for them.
    .exitOverride();
  program.hook('preAction', (_root, command) => {
    validateOptions(command);
    options.beforeAction?.(command);
  });

  registerStartCommand(program);
  registerPkiCommands(program);
  registerProvisioningCommands(program);
  registerSimulateCommand(program);
  registerPolicyCommands(program);
  registerKeysCommands(program, { openDataKeyStore, recordShred: (config, receipt) => withControlStore(config, (store) => recordShred(store, receipt)), withControl: withControlStore });
  registerRecordsCommands(program, { openRecord: lazyRecordOpener(program), decode: configDecoder(program) });
  registerAdminCommands(program);
  registerAuditCommands(program);
  registerBackupCommands(program);
  registerConfigCommands(program);
  registerConsoleCommand(program);
  return program;
}

/** Every command that runs an action, as its path (`pki issue device`). */
export function leafCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => (c.commands.length ? leafCommands(c) : [c]));
}
