/**
 * `thingiq config check [FILE]` and `thingiq config show [--effective]`: what
 * a start or a reload would make of a config file, without running anything.
 * Check reports every problem at once (exit 2) or OK (exit 0); show prints the
 * parsed file, or with --effective the file plus the admin API's state over
 * it, with the source of each tenant-level value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { TenantOverrides } from '../admin/tenant-overrides.ts';
import { parseConfigText } from '../config/config-text.ts';
import { effectiveConfig, type ApiOverridesReader } from '../config/effective-config.ts';
import { DEFAULT_CONFIG_PATH, parseConfig, readConfigFile } from '../config/load.ts';
import { isTiqError } from '../errors.ts';
import { candidateProblems } from '../gateway/gateway-config.ts';
import { clusterProblems } from '../cluster/cluster-checks.ts';
import { TelemetryCodec } from '../messages/codec.ts';
import { PolicyOverrides } from '../privacy/policy-overrides.ts';
import { validateTenantPolicies } from '../privacy/policy-validation.ts';
import type { ControlStore } from '../control/control-store.ts';
import { action, printTable } from './context.ts';
import { withControlStore } from './control-access.ts';

/** The admin API's state as the control store holds it (apps, grants, device groups, policy overrides). */
export function storeOverrides(store: ControlStore): ApiOverridesReader {
  const tenants = new TenantOverrides(store);
  const policies = new PolicyOverrides(store);
  return {
    applyTenants: (raw) => tenants.apply(raw),
    tenant: (tenantId) => tenants.state[tenantId],
    policy: (tenantId) => policies.get(tenantId),
  };
}

/** Opens the control store the config names (default: `control.db` in its dataDir) for one read of the overrides. */
async function withOverrides<T>(raw: Record<string, unknown>, baseDir: string, work: (o: ApiOverridesReader) => T): Promise<T> {
  const dataDir = typeof raw['dataDir'] === 'string' ? raw['dataDir'] : 'data';
  // Nothing to read, and nothing is created, where no gateway has kept state yet.
  const fresh = !raw['controlStore'] && !['control.db', 'admin', 'privacy'].some((f) => existsSync(resolve(baseDir, dataDir, f)));
  if (fresh) return work({ applyTenants: (r) => r, tenant: () => undefined, policy: () => undefined });
  const located = parseConfig({ dataDir: resolve(baseDir, dataDir), pkiDir: resolve(baseDir, typeof raw['pkiDir'] === 'string' ? raw['pkiDir'] : 'certs'),
    tenants: {}, ...(raw['controlStore'] ? { controlStore: raw['controlStore'] } : {}) }, '(control store)');
  return withControlStore(located, async (store) => work(storeOverrides(store)));
}

/** Paths the gateway opens at start that must exist already (the rest it creates). */
function fileReferenceProblems(raw: unknown, baseDir: string): string[] {
  const refs: [string, unknown][] = [];
  const r = raw as { externalCa?: { caFile?: unknown }; admin?: { oauth?: { jwksFile?: unknown } } };
  refs.push(['externalCa.caFile', r.externalCa?.caFile], ['admin.oauth.jwksFile', r.admin?.oauth?.jwksFile]);
  return refs.filter(([, v]) => typeof v === 'string' && !existsSync(resolve(baseDir, v)))
    .map(([path]) => `${path}: file not found`);
}

export interface ConfigCheckResult {
  readonly file: string;
  readonly ok: boolean;
  /** TIQ_ERR_CONFIG when there are problems. */
  readonly code?: 'TIQ_ERR_CONFIG';
  readonly problems: readonly string[];
  readonly tenants?: number;
}

/** Every problem a start would find: YAML, shape, schema (with the admin API's state), stream types, policies, files. */
export async function checkConfigFile(file: string, baseDir = process.cwd()): Promise<ConfigCheckResult> {
  if (!existsSync(file)) return { file, ok: false, code: 'TIQ_ERR_CONFIG', problems: ['file not found'] };
  const parsed = parseConfigText(readFileSync(file, 'utf8'));
  if (!parsed.ok) return { file, ok: false, code: 'TIQ_ERR_CONFIG', problems: parsed.problems };
  const problems = fileReferenceProblems(parsed.raw, baseDir);
  let applied: unknown = parsed.raw;
  let policies: Record<string, unknown> = {};
  try {
    ({ applied, policies } = await withOverrides(parsed.raw, baseDir, (o) => {
      const merged = o.applyTenants(parsed.raw);
      const ids = Object.keys((merged as { tenants?: Record<string, unknown> }).tenants ?? {});
      return { applied: merged, policies: Object.fromEntries(ids.map((t) => [t, o.policy(t)]).filter(([, p]) => p !== undefined)) };
    }));
  } catch (err) {
    problems.push(...((isTiqError(err) ? err.detail?.['problems'] as string[] | undefined : undefined) ?? [(err as Error).message]));
  }
  const codec = TelemetryCodec.load();
  const checked = candidateProblems(applied, file, {
    validatePolicies: (sources) => validateTenantPolicies(Object.fromEntries(Object.entries(sources).map(([t, s]) => {
      const policy = policies[t];
      return [t, policy === undefined ? s : { ...s, privacy: policy }];
    }))).problems,
    hasMessageType: (type) => codec.hasType(type),
  });
  if (!checked.ok) problems.push(...checked.problems);
  // Cluster mode's refusals, as a start would make them (nothing is created here either).
  else problems.push(...clusterProblems(checked.next, baseDir));
  return problems.length ? { file, ok: false, code: 'TIQ_ERR_CONFIG', problems } : { file, ok: true, problems, tenants: checked.ok ? Object.keys(checked.next.tenants).length : 0 };
}

/** Passwords in connection strings are not printed. */
function redact(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === 'connectionString' && typeof v === 'string' ? v.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@') : v);
}

function configFileOf(program: Command, file: string | undefined): string {
  return resolve(file ?? program.opts<{ config?: string }>().config ?? DEFAULT_CONFIG_PATH);
}

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check and show the configuration');

  config.command('check')
    .description('check a config file as a start would, reporting every problem at once (exit 0 OK, 2 problems)')
    .argument('[file]', 'config file (default: --config, else config/gateway.yaml)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string | undefined, o: { json?: boolean }) => {
      const result = await checkConfigFile(configFileOf(program, file));
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else if (result.ok) process.stdout.write(`OK ${result.file} (${result.tenants} tenant(s))\n`);
      else process.stderr.write(`${result.file}: TIQ_ERR_CONFIG, ${result.problems.length} problem(s):\n${result.problems.map((p) => `  - ${p}\n`).join('')}`);
      process.exitCode = result.ok ? 0 : 2;
    });

  config.command('show')
    .description('print the configuration; --effective: with the admin API\'s changes and the source of each tenant value')
    .option('--effective', 'merge the admin API\'s state (apps, grants, device groups, privacy policies) and name each value\'s source')
    .option('--json', 'print JSON')
    .action(action(async (o: { effective?: boolean; json?: boolean }) => {
      const file = configFileOf(program, undefined);
      const raw = readConfigFile(file);
      const dataDir = typeof raw['dataDir'] === 'string' ? raw['dataDir'] : 'data';
      const shown = o.effective
        ? { file, dataDir: resolve(dataDir), ...await withOverrides(raw, process.cwd(), (o) => effectiveConfig(raw, o, file)) }
        : { file, config: parseConfig(raw, file) };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(redact(shown))}\n`);
        return;
      }
      process.stdout.write(stringify(redact(shown.config)));
      if ('values' in shown) {
        process.stdout.write(`\n# sources of tenant values (file: ${file}; api: state in ${resolve(dataDir)})\n`);
        printTable(shown.values.map((v) => ({ path: v.path, source: v.source, value: JSON.stringify(redact(v.value)) })));
        for (const d of shown.deletedByApi) process.stdout.write(`deleted through the API: ${d}\n`);
      }
    }));
}
