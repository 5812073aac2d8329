import type { Command } from 'commander';

export function registerRecordsCommands(_program: Command): void {
  // filled by the records area
}
