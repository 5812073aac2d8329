/**
 * Operator retention actions against the tenants' sinks: change a rule
 * (persist, then re-tag what is stored), set or release a legal hold
 * (persist, then re-flag records), reconcile stored tags with the rules, and
 * sweep expired records. Rules and holds are persisted in the tenant's own
 * sink, so they survive restarts and stay with the tenant's data (residency).
 */
import { TiqError } from '../errors.ts';
import type { StorageSink, StoredLegalHold, StoredRetentionRule, SweepResult } from '../sinks/storage-sink.ts';
import type { RetentionPolicy } from './retention-policy.ts';

export interface RetentionLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface SinkDirectory {
  readonly sinks: ReadonlyMap<string, StorageSink>;
  sinkFor(tenantId: string): StorageSink;
  sinkNameFor(tenantId: string): string;
}

/**
 * Where operator rules and holds live. The gateway and the CLI pass the
 * control store's (one place, with a change feed); without one they stay in
 * each tenant's sink, as before.
 */
export interface RetentionStateStore {
  rules(): readonly StoredRetentionRule[];
  holds(): readonly StoredLegalHold[];
  putRule(rule: StoredRetentionRule, actor: string): Promise<void>;
  putHold(hold: StoredLegalHold, actor: string): Promise<void>;
}

export interface RetentionServiceOptions {
  /** Rows per re-tag, hold or delete statement. */
  readonly batchSize: number;
  /** Streams every tenant has (the gateway-wide streams), re-tagged on reconcile. */
  readonly knownStreams?: readonly string[];
  readonly logger?: RetentionLogger;
  readonly now?: () => number;
  readonly state?: RetentionStateStore;
}

export interface SweepReport {
  readonly deleted: number;
  readonly partitionsDropped: number;
  readonly sinks: Record<string, SweepResult>;
}

/** The last sweep this gateway ran (on its schedule or asked for), for the admin API and the console. */
export interface LastSweep {
  readonly atMs: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly deleted: number;
  readonly partitionsDropped: number;
  /** The error code of a failed sweep. */
  readonly code?: string;
}

export interface SetRuleRequest {
  readonly tenantId: string;
  readonly stream: string;
  readonly days: number;
  /** Defaults to `<stream>-<days>d`. */
  readonly retentionClass?: string;
  readonly deviceGroup?: string;
  readonly actor?: string;
}

const CLASS_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class RetentionService {
  constructor(private readonly storage: SinkDirectory, readonly policy: RetentionPolicy, private readonly options: RetentionServiceOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Reads the operator overrides (control store, else every sink: only rows of tenants that sink serves). */
  async load(): Promise<{ rules: [string, string][]; holds: string[] }> {
    const state = this.options.state;
    if (state) return this.policy.setStored(state.rules(), state.holds());
    const rules = [];
    const holds = [];
    for (const [name, sink] of this.storage.sinks) {
      rules.push(...(await sink.listRetentionRules()).filter((r) => this.storage.sinkNameFor(r.tenantId) === name));
      holds.push(...(await sink.listLegalHolds()).filter((h) => this.storage.sinkNameFor(h.tenantId) === name));
    }
    return this.policy.setStored(rules, holds);
  }

  /** load(), then re-tag and re-flag what another process (the CLI) changed. */
  async refresh(): Promise<{ retagged: number; flagged: number }> {
    return this.applyChanged(await this.load());
  }

  /** Re-tags and re-flags what a load() reported as changed. */
  async applyChanged(changed: { rules: [string, string][]; holds: string[] }): Promise<{ retagged: number; flagged: number }> {
    let retagged = 0;
    let flagged = 0;
    for (const [tenantId, stream] of changed.rules) retagged += await this.retagStream(tenantId, stream);
    for (const tenantId of changed.holds) flagged += await this.reflagTenant(tenantId);
    return { retagged, flagged };
  }

  async setRule(req: SetRuleRequest): Promise<{ retentionClass: string; retagged: number }> {
    const retentionClass = req.retentionClass ?? `${req.stream}-${req.days}d`;
    const problems: string[] = [];
    if (!Number.isInteger(req.days) || req.days < 1 || req.days > 36_500) problems.push('days: an integer from 1 to 36500');
    if (!CLASS_PATTERN.test(retentionClass)) problems.push(`class: must match ${CLASS_PATTERN.source}`);
    if (req.deviceGroup && !this.policy.hasDeviceGroup(req.tenantId, req.deviceGroup)) problems.push(`deviceGroup: "${req.deviceGroup}" is not configured for the tenant`);
    if (problems.length > 0) throw new TiqError('TIQ_ERR_CONFIG', { problems });
    const rule = { tenantId: req.tenantId, stream: req.stream, deviceGroup: req.deviceGroup ?? '', retentionClass, days: req.days, changedAtMs: this.now() };
    if (this.options.state) await this.options.state.putRule(rule, req.actor ?? 'system');
    else await this.storage.sinkFor(req.tenantId).putRetentionRule(rule);
    await this.load();
    const retagged = await this.retagStream(req.tenantId, req.stream);
    this.options.logger?.info({ tenantId: req.tenantId, stream: req.stream, deviceGroup: req.deviceGroup, retentionClass, days: req.days, retagged }, 'retention rule changed');
    return { retentionClass, retagged };
  }

  async setHold(req: { tenantId: string; deviceId?: string; held: boolean; actor?: string }): Promise<{ flagged: number }> {
    const hold = { tenantId: req.tenantId, deviceId: req.deviceId ?? '', held: req.held, changedAtMs: this.now() };
    if (this.options.state) await this.options.state.putHold(hold, req.actor ?? 'system');
    // The sink keeps a copy either way: its sweep checks stored holds in the same statement that deletes.
    await this.storage.sinkFor(req.tenantId).putLegalHold(hold);
    await this.load();
    const flagged = await this.reflagTenant(req.tenantId);
    this.options.logger?.info({ tenantId: req.tenantId, deviceId: req.deviceId, held: req.held, flagged }, req.held ? 'legal hold set' : 'legal hold released');
    return { flagged };
  }

  /** Brings the stored tags of (tenant, stream) to the current rules, in bounded batches. */
  async retagStream(tenantId: string, stream: string): Promise<number> {
    const sink = this.storage.sinkFor(tenantId);
    let changed = 0;
    for (const step of this.policy.retagPlan(tenantId, stream)) changed += await sink.retagRecords(step.selection, step.tag, this.options.batchSize);
    if (changed > 0) this.options.logger?.info({ tenantId, stream, retagged: changed }, 'records re-tagged');
    return changed;
  }

  /** Brings the legal-hold flags of the tenant's records to the current holds. */
  async reflagTenant(tenantId: string): Promise<number> {
    const sink = this.storage.sinkFor(tenantId);
    const batch = this.options.batchSize;
    if (this.policy.tenantHeld(tenantId)) return sink.setRecordsLegalHold({ tenantId }, true, batch);
    const held = this.policy.heldDevices(tenantId);
    const on = held.length > 0 ? await sink.setRecordsLegalHold({ tenantId, deviceIds: held }, true, batch) : 0;
    return on + (await sink.setRecordsLegalHold({ tenantId, excludeDeviceIds: held }, false, batch));
  }

  /** Re-tags and re-flags every tenant and stream (after a restart with changed config). */
  async reconcile(): Promise<{ retagged: number; flagged: number }> {
    await this.load();
    let retagged = 0;
    let flagged = 0;
    for (const tenantId of this.policy.tenants()) {
      const streams = new Set([...(this.options.knownStreams ?? []), ...this.policy.streamsWithRules(tenantId)]);
      for (const stream of streams) retagged += await this.retagStream(tenantId, stream);
      flagged += await this.reflagTenant(tenantId);
    }
    return { retagged, flagged };
  }

  /** undefined until this process has swept once. */
  lastSweep: LastSweep | undefined;

  async sweep(nowMs = this.now()): Promise<SweepReport> {
    const sinks: Record<string, SweepResult> = {};
    let deleted = 0;
    let partitionsDropped = 0;
    const started = Date.now();
    try {
      for (const [name, sink] of this.storage.sinks) {
        const result = await sink.sweepExpired(nowMs, this.options.batchSize);
        sinks[name] = result;
        deleted += result.deleted;
        partitionsDropped += result.partitionsDropped;
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.lastSweep = { atMs: nowMs, durationMs: Date.now() - started, ok: false, deleted, partitionsDropped, code: typeof code === 'string' ? code : 'TIQ_ERR_INTERNAL' };
      throw err;
    }
    this.lastSweep = { atMs: nowMs, durationMs: Date.now() - started, ok: true, deleted, partitionsDropped };
    this.options.logger?.info({ deleted, partitionsDropped, sinks }, 'retention sweep done');
    return { deleted, partitionsDropped, sinks };
  }
}
