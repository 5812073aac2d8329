/** Shared pieces of the CLI: the loaded config, paths, and how failures are reported. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { isTiqError } from '../errors.ts';

export function cliConfig(cmd: Command): LoadedConfig {
  return loadConfig(cmd.optsWithGlobals<{ config?: string }>().config);
}

export function pkiDirOf(loaded: LoadedConfig): string {
  return resolve(loaded.config.pkiDir);
}

/** What the person typing the command can fix: exit 2. */
const USAGE_CODES = new Set<string>(['TIQ_ERR_CONFIG', 'TIQ_ERR_INVALID_ID', 'TIQ_ERR_USAGE', 'TIQ_ERR_TENANT_UNKNOWN']);

/** Exit codes: 1 runtime failure, 2 configuration or usage problem, 3 cannot listen. */
export function exitCodeFor(err: unknown): number {
  if (!isTiqError(err)) return 1;
  if (USAGE_CODES.has(err.code)) return 2;
  if (err.code === 'TIQ_ERR_LISTEN') return 3;
  return 1;
}

export function reportError(err: unknown): void {
  if (isTiqError(err)) {
    process.stderr.write(`thingiq: ${err.message}\n`);
    const problems = (err.detail?.['problems'] as string[] | undefined) ?? [];
    for (const p of problems) process.stderr.write(`  - ${p}\n`);
  } else {
    process.stderr.write(`thingiq: ${(err as Error).message ?? String(err)}\n`);
  }
}

/** Wraps an action so that failures print one clear message and set the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
      process.exitCode = exitCodeFor(err);
    }
  };
}

export function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cols = Object.keys(rows[0]!);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  process.stdout.write(line(cols));
  for (const r of rows) process.stdout.write(line(cols.map((c) => String(r[c] ?? ''))));
}
