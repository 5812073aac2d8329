/**
 * Configuration changes of a running gateway: checking a candidate exactly as
 * a start would (schema, then privacy policies), and watching the config file.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { TiqError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { privacySourcesFromConfig } from '../privacy/config-sources.ts';
import type { PolicyOverrides } from '../privacy/policy-overrides.ts';
import type { ReloadablePrivacyEngine } from '../privacy/privacy-engine.ts';

export type ReloadResult = { ok: true } | { ok: false; problems: readonly string[] };
export type CheckedConfig = { ok: true; next: GatewayConfig } | { ok: false; problems: readonly string[] };

/** Every problem of a candidate config, logged once; nothing changes here. */
export function checkConfig(
  raw: unknown, source: string, privacy: ReloadablePrivacyEngine, policyOverrides: PolicyOverrides, log: Logger,
): CheckedConfig {
  let next: GatewayConfig;
  try {
    next = parseConfig(raw, source);
  } catch (err) {
    const problems = ((err as TiqError).detail?.['problems'] as string[] | undefined) ?? [(err as Error).message];
    log.error({ event: 'reload_refused', code: 'TIQ_ERR_CONFIG', source, problems }, 'configuration change refused; previous one stays in force');
    return { ok: false, problems };
  }
  const problems = privacy.validate(policyOverrides.apply(privacySourcesFromConfig(next)));
  if (problems.length) {
    log.error({ event: 'reload_refused', code: 'TIQ_ERR_POLICY_INVALID', source, problems }, 'privacy policy change refused; previous one stays in force');
    return { ok: false, problems };
  }
  return { ok: true, next };
}

/** Reloads on file changes (polling: works on every filesystem, bind mounts included) and on demand (SIGHUP). */
export class ConfigFileWatcher {
  constructor(readonly path: string, private readonly reload: (raw: unknown, source: string) => ReloadResult, private readonly log: Logger) {
    watchFile(path, { interval: 500 }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs) this.reloadNow();
    });
  }

  reloadNow(): ReloadResult {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(this.path, 'utf8'));
    } catch (err) {
      const problems = [`cannot read or parse: ${(err as Error).message}`];
      this.log.error({ event: 'reload_refused', code: 'TIQ_ERR_CONFIG', source: this.path, problems }, 'configuration change refused; previous one stays in force');
      return { ok: false, problems };
    }
    return this.reload(raw, this.path);
  }

  close(): void {
    unwatchFile(this.path);
  }
}
