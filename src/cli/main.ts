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
import { configDecoder, lazyRecordOpener, openDataKeyStore } from './wiring.ts';

// Owner-only by default for everything the gateway and the commands create (data, exports, SVGs);
// what must be readable by others (certificates) is written with an explicit mode.
process.umask(0o077);

const program = new Command('thingiq')
  .description('ThingIQ Gateway: privacy-first MQTT telemetry gateway')
  .version(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string)
  .option('-c, --config <file>', 'configuration file (default: config/gateway.yaml if present, else development defaults)')
  .showHelpAfterError();

registerStartCommand(program);
registerPkiCommands(program);
registerSimulateCommand(program);
registerPolicyCommands(program);
registerKeysCommands(program, { openDataKeyStore });
registerRecordsCommands(program, { openRecord: lazyRecordOpener(program), decode: configDecoder(program) });
registerAdminCommands(program);
registerAuditCommands(program);

await program.parseAsync(process.argv);
