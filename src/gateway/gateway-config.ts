/**
 * Configuration changes of a running gateway: checking a candidate exactly as
 * a start would (shape, schema, stream message types, privacy policies), and
 * watching the config file.
 */
import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { checkConfigShape, parseConfigText } from '../config/config-text.ts';
import { parseConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { TiqError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { privacySourcesFromConfig } from '../privacy/config-sources.ts';
import type { TenantPrivacySources } from '../privacy/policy-validation.ts';

export type ReloadResult = { ok: true } | { ok: false; problems: readonly string[] };
export type CheckedConfig = { ok: true; next: GatewayConfig } | { ok: false; code: 'TIQ_ERR_CONFIG' | 'TIQ_ERR_POLICY_INVALID'; problems: readonly string[] };

/** What a candidate is checked against besides the schema. */
export interface CandidateChecks {
  /** Problems of the tenants' privacy policies (with the API's policies applied), as the engine would find them. */
  validatePolicies(sources: TenantPrivacySources): readonly string[];
  /** The codec knows this protobuf message type. */
  hasMessageType(type: string): boolean;
}

/** Every stream of every tenant (gateway-wide ones included) must name a message type the codec knows. */
export function streamProblems(config: GatewayConfig, hasMessageType: (type: string) => boolean): string[] {
  const problems: string[] = [];
  for (const [name, s] of Object.entries(config.streams)) {
    if (!hasMessageType(s.messageType)) problems.push(`streams.${name}.messageType: unknown message type ${s.messageType}`);
  }
  for (const [tenantId, t] of Object.entries(config.tenants)) {
    for (const [name, s] of Object.entries(t.streams)) {
      if (!hasMessageType(s.messageType)) problems.push(`tenants.${tenantId}.streams.${name}.messageType: unknown message type ${s.messageType}`);
    }
  }
  return problems;
}

/** Every problem of a candidate (raw config, API overrides already merged in); nothing is logged or changed. */
export function candidateProblems(raw: unknown, source: string, checks: CandidateChecks): CheckedConfig {
  const shape = checkConfigShape(raw);
  if (!shape.ok) return { ok: false, code: 'TIQ_ERR_CONFIG', problems: shape.problems };
  let next: GatewayConfig;
  try {
    next = parseConfig(raw, source);
  } catch (err) {
    const problems = ((err as TiqError).detail?.['problems'] as string[] | undefined) ?? [(err as Error).message];
    return { ok: false, code: 'TIQ_ERR_CONFIG', problems };
  }
  const streams = streamProblems(next, (t) => checks.hasMessageType(t));
  const policies = checks.validatePolicies(privacySourcesFromConfig(next));
  if (streams.length || policies.length) {
    return { ok: false, code: streams.length ? 'TIQ_ERR_CONFIG' : 'TIQ_ERR_POLICY_INVALID', problems: [...streams, ...policies] };
  }
  return { ok: true, next };
}

function logRefusal(log: Logger, code: string, source: string, problems: readonly string[]): void {
  log.error({ event: 'reload_refused', code, source, problems }, 'configuration change refused; previous one stays in force');
}

/** Every problem of a candidate config, logged once; nothing changes here. */
export function checkConfig(raw: unknown, source: string, checks: CandidateChecks, log: Logger): CheckedConfig {
  const checked = candidateProblems(raw, source, checks);
  if (!checked.ok) logRefusal(log, checked.code, source, checked.problems);
  return checked;
}

export interface ConfigWatchOptions {
  /** Quiet time after the last change event before the file is read: an editor's write is often several events. */
  readonly debounceMs?: number;
  /** Backstop poll for filesystems without change events (some network and bind mounts). */
  readonly pollMs?: number;
}

/**
 * Reloads on change events of the file's directory (the file itself may be
 * replaced by a rename, which a watch on the old inode would not see), after
 * a short debounce, and on demand (SIGHUP). Content identical to what was
 * last seen is not reloaded again. A file that is not a whole configuration
 * (config-text.ts) is refused with its problems logged; the next change is
 * read afresh.
 */
export class ConfigFileWatcher {
  private lastSeen: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private readonly debounceMs: number;

  constructor(readonly path: string, private readonly reload: (raw: unknown, source: string) => ReloadResult,
    private readonly log: Logger, options: ConfigWatchOptions = {}) {
    this.debounceMs = options.debounceMs ?? 100;
    this.lastSeen = this.fingerprint();
    const name = basename(path);
    try {
      this.watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.schedule();
      });
      this.watcher.on('error', (err) => this.log.warn({ event: 'config_watch_failed', reason: err.message }, 'config file events unavailable; polling only'));
    } catch (err) {
      this.log.warn({ event: 'config_watch_failed', reason: (err as Error).message }, 'config file events unavailable; polling only');
    }
    watchFile(path, { interval: options.pollMs ?? 5000, persistent: false }, () => this.schedule());
  }

  private read(): { ok: true; text: string; hash: string } | { ok: false; problems: string[] } {
    try {
      const bytes = readFileSync(this.path);
      return { ok: true, text: bytes.toString('utf8'), hash: createHash('sha256').update(bytes).digest('hex') };
    } catch (err) {
      return { ok: false, problems: [`cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`] };
    }
  }

  private fingerprint(): string | undefined {
    const r = this.read();
    return r.ok ? r.hash : undefined;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.fingerprint() !== this.lastSeen) this.reloadNow();
    }, this.debounceMs);
    this.timer.unref();
  }

  reloadNow(): ReloadResult {
    const file = this.read();
    this.lastSeen = file.ok ? file.hash : undefined;
    const parsed = file.ok ? parseConfigText(file.text) : file;
    if (!parsed.ok) {
      logRefusal(this.log, 'TIQ_ERR_CONFIG', this.path, parsed.problems);
      return { ok: false, problems: parsed.problems };
    }
    return this.reload(parsed.raw, this.path);
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    unwatchFile(this.path);
  }
}
