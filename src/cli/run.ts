/**
 * How the `thingiq` command ends: exit codes as the README documents them
 * (0 success, 1 runtime failure, 2 configuration or usage problem, 3 a port
 * in use), one line per failure on stderr and never a stack trace for a
 * user's mistake, and quiet when its output is cut short (`... | head`).
 */
import { CommanderError, type Command } from 'commander';
import { exitCodeFor, reportError } from './context.ts';

/** Parses and runs; sets process.exitCode rather than exiting, so open handles close in order. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Commander has printed its message (and the usage) already; --help and --version are not errors.
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
    else fail(err);
  }
}

function fail(err: unknown): void {
  reportError(err);
  if (process.env['THINGIQ_DEBUG'] && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = exitCodeFor(err);
}

function isClosedPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

let installed = false;

/**
 * A reader that stops early (`thingiq records export ... | head`) closes the
 * pipe: the next write fails with EPIPE. That is the reader's choice, not a
 * failure: exit at once, quietly, with the status so far. Anything else that
 * escapes an action is reported in one line (its stack with THINGIQ_DEBUG=1).
 */
export function installProcessHandlers(): void {
  if (installed) return;
  installed = true;
  const onStreamError = (err: Error) => {
    if (isClosedPipe(err)) process.exit();
    fail(err);
    process.exit();
  };
  process.stdout.on('error', onStreamError);
  process.stderr.on('error', (err) => { if (isClosedPipe(err)) process.exit(); });
  const onUncaught = (err: unknown) => {
    if (isClosedPipe(err)) process.exit();
    fail(err);
    process.exit();
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
}
