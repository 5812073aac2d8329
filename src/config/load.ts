/**
 * Loads the configuration: `--config FILE`, else `config/gateway.yaml` when it
 * exists, else the built-in development defaults. Every problem is reported at
 * once, with its path, as TIQ_ERR_CONFIG.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { TiqError } from '../errors.ts';
import { GatewayConfigSchema, type GatewayConfig } from './schema.ts';

export const DEFAULT_CONFIG_PATH = 'config/gateway.yaml';

/** The development defaults: one tenant `demo` with a `dashboard` app that may read everything. */
export const DEVELOPMENT_DEFAULTS = {
  tenants: { demo: { apps: { dashboard: {} } } },
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
  return deepFreeze(result.data);
}

export function loadConfig(path?: string, cwd = process.cwd()): LoadedConfig {
  const file = path ? resolve(cwd, path) : resolve(cwd, DEFAULT_CONFIG_PATH);
  if (!existsSync(file)) {
    if (path) throw new TiqError('TIQ_ERR_CONFIG', { source: file, problems: ['file not found'] });
    return { config: parseConfig(DEVELOPMENT_DEFAULTS, '(development defaults)'), source: undefined };
  }
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONFIG', { source: file, problems: [`not valid YAML: ${(err as Error).message}`] });
  }
  return { config: parseConfig(raw, file), source: file };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
