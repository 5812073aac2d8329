/**
 * Options are checked by name before any command runs, so every command,
 * present and future, refuses the same bad input the same way: ids by the
 * pattern of issuance (TIQ_ERR_INVALID_ID), numbers, times, enumerations and
 * input files (TIQ_ERR_USAGE), tenants that are not configured
 * (TIQ_ERR_TENANT_UNKNOWN). All exit 2 (context.ts).
 */
import type { Command } from 'commander';
import { accessSync, constants } from 'node:fs';
import { TiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { cliConfig } from './context.ts';

/** Options whose value is an id (a retention class is one too). */
const ID_OPTIONS = ['tenant', 'device', 'app', 'name', 'group', 'class', 'claim'];

interface NumberRule { readonly min: number; readonly max: number; readonly integer: boolean }
const int = (min: number, max: number): NumberRule => ({ min, max, integer: true });
const NUMBER_OPTIONS: Record<string, NumberRule> = {
  devices: int(1, 100_000),
  rate: { min: Number.MIN_VALUE, max: 1_000_000, integer: false },
  duration: { min: Number.MIN_VALUE, max: 31_536_000, integer: false },
  port: int(1, 65_535),
  days: int(1, 36_500),
  limit: int(1, 1_000_000),
};
/** Numbers only where the option means one: `keys rewrap --after` is a data-key id. */
const NUMBER_OPTIONS_OF: Record<string, Record<string, NumberRule>> = {
  'audit query': { after: int(0, Number.MAX_SAFE_INTEGER) },
};
const CHOICES: Record<string, readonly string[]> = { format: ['ndjson', 'csv'], mode: ['none', 'drop', 'refuse'] };
const TIME_OPTIONS = ['from', 'to'];
/** Options naming a file the command reads. */
const INPUT_FILES = ['trace', 'csr', 'ca', 'cert', 'key', 'file', 'policy', 'keyFile', 'checkpoint', 'pgDump', 'claimCert', 'claimKey'];
/** Where --tenant filters what exists (a removed tenant's certificates or audit entries) rather than naming a configured tenant. */
const TENANT_IS_FILTER = ['pki list', 'audit query'];
/** Where --tenant is another machine's: a device registering with the gateway's tenant, which this machine's config need not know. */
const TENANT_IS_REMOTE = ['provisioning register'];

function usage(problem: string): TiqError {
  return new TiqError('TIQ_ERR_USAGE', problem);
}

function checkNumber(name: string, value: string, rule: NumberRule): void {
  const n = /^\s*$/.test(value) ? Number.NaN : Number(value);
  if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || n < rule.min || n > rule.max) {
    const what = rule.integer ? `an integer from ${rule.min} to ${rule.max}` : `a number above 0, at most ${rule.max}`;
    throw usage(`--${name} must be ${what}, not ${JSON.stringify(value.slice(0, 40))}`);
  }
}

function checkTime(name: string, value: string): void {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw usage(`--${name} must be an ISO 8601 time or epoch milliseconds`);
}

function checkReadable(name: string, path: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw usage(`--${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A command's path from the root, e.g. `pki issue device`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Throws the first problem with the action command's options. */
export function validateOptions(command: Command): void {
  const path = commandPath(command);
  const opts = command.optsWithGlobals<Record<string, unknown>>();
  const numbers = { ...NUMBER_OPTIONS, ...NUMBER_OPTIONS_OF[path] };
  for (const [name, value] of Object.entries(opts)) {
    if (typeof value !== 'string') continue;
    if (ID_OPTIONS.includes(name)) assertValidId(`--${name}`, value);
    const rule = numbers[name];
    if (rule) checkNumber(name, value, rule);
    const choices = CHOICES[name];
    if (choices && !choices.includes(value)) throw usage(`--${name} must be one of ${choices.join(', ')}`);
    if (TIME_OPTIONS.includes(name)) checkTime(name, value);
    if (INPUT_FILES.includes(name)) checkReadable(name, value);
  }
  const tenant = opts['tenant'];
  // The admin commands ask the gateway, which answers for its tenants; a preview with --policy brings its own.
  // So does a replay from another gateway (--url): its tenants need not be configured here.
  const remote = path.startsWith('records ') && typeof opts['url'] === 'string';
  if (typeof tenant === 'string' && !path.startsWith('admin ') && !remote && !TENANT_IS_REMOTE.includes(path) && !TENANT_IS_FILTER.includes(path) && !(path === 'policy preview' && opts['policy'])) {
    if (!cliConfig(command).config.tenants[tenant]) throw new TiqError('TIQ_ERR_TENANT_UNKNOWN', `tenant ${tenant} is not configured`);
  }
}
