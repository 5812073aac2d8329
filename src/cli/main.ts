/**
 * The `thingiq` command. Each area registers its subcommands from its own
 * file (program.ts); run.ts turns every failure into one line and an exit code.
 */
import { buildProgram } from './program.ts';
import { installProcessHandlers, runProgram } from './run.ts';

// Owner-only by default for everything the gateway and the commands create (data, exports, SVGs);
// what must be readable by others (certificates) is written with an explicit mode.
process.umask(0o077);

const program = buildProgram({
  // The gateway keeps Node's own handling of a crash (with its stack): that is a bug report, not a user error.
  beforeAction: (command) => { if (command.name() !== 'start') installProcessHandlers(); },
});
await runProgram(program, process.argv);
