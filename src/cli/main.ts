/**
 * The `thingiq` command. Each area registers its subcommands from its own file.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerKeysCommands } from './keys-commands.ts';
import { registerPkiCommands } from './pki-commands.ts';
import { registerSimulateCommand } from './simulate-command.ts';
import { registerStartCommand } from './start-command.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerRecordsCommands } from './records-commands.ts';
import { recordShred } from '../control/shred-tombstone.ts';
import { withControlStore } from './control-access.ts';
import { configDecoder, lazyRecordOpener, openDataKeyStore } from './wiring.ts';

const program = new Command('thingiq')
  .description('ThingIQ Gateway: privacy-first MQTT telemetry gateway')
  .version(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string)
  .option('-c, --config <file>', 'configuration file (default: config/gateway.yaml if present, else development defaults)')
  .showHelpAfterError();

registerStartCommand(program);
registerPkiCommands(program);
registerSimulateCommand(program);
registerPolicyCommands(program);
registerKeysCommands(program, { openDataKeyStore, recordShred: (config, receipt) => withControlStore(config, (store) => recordShred(store, receipt)) });
registerRecordsCommands(program, { openRecord: lazyRecordOpener(program), decode: configDecoder(program) });
registerAdminCommands(program);
registerAuditCommands(program);

await program.parseAsync(process.argv);
