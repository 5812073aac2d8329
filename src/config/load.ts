/**
 * Loads the configuration: `--config FILE`, else `config/gateway.yaml` when it
 * exists, else the built-in development defaults. Every problem is reported at
 * once, with its path, as TIQ_ERR_CONFIG.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { TiqError } from '../errors.ts';
import { parseConfigText } from './config-text.ts';
import { markCheckedIdList } from './device-groups.ts';
import { GatewayConfigSchema, type GatewayConfig } from './schema.ts';

export const DEFAULT_CONFIG_PATH = 'config/gateway.yaml';

/**
 * The development defaults: one tenant `demo` with a `dashboard` app that may
 * read everything, its devices' lifecycle events included, also over
 * WebSocket (tokens on 8884, certificates on 8885).
 */
export const DEVELOPMENT_DEFAULTS = {
  tenants: { demo: { apps: { dashboard: { events: true } } } },
  websocket: { enabled: true, mtlsPort: 8885 },
};

export interface LoadedConfig {
  readonly config: GatewayConfig;
  /** The file it came from, or undefined for the development defaults. */
  readonly source: string | undefined;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

export function parseConfig(raw: unknown, source = '(inline)'): GatewayConfig {
  const result = GatewayConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = formatIssues(result.error.issues);
    throw new TiqError('TIQ_ERR_CONFIG', { source, problems });
  }
  const config = deepFreeze(result.data);
  for (const t of Object.values(config.tenants)) for (const list of Object.values(t.deviceGroups)) markCheckedIdList(list);
  return config;
}

export function loadConfig(path?: string, cwd = process.cwd()): LoadedConfig {
  const file = path ? resolve(cwd, path) : resolve(cwd, DEFAULT_CONFIG_PATH);
  if (!existsSync(file)) {
    if (path) throw new TiqError('TIQ_ERR_CONFIG', { source: file, problems: ['file not found'] });
    return { config: parseConfig(DEVELOPMENT_DEFAULTS, '(development defaults)'), source: undefined };
  }
  return { config: parseConfig(readConfigFile(file), file), source: file };
}

/** The raw config of a file: whole, one YAML mapping with `tenants` (config-text.ts), else TIQ_ERR_CONFIG. */
export function readConfigFile(file: string): Readonly<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONFIG', { source: file, problems: [`cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`] });
  }
  const parsed = parseConfigText(text);
  if (!parsed.ok) throw new TiqError('TIQ_ERR_CONFIG', { source: file, problems: parsed.problems });
  return parsed.raw;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
