/**
 * Which retention rule and legal hold apply to a record: the tenant's config
 * (tenants.<id>.retention), overridden by what operators changed and the
 * sinks persisted. retentionFor() is synchronous and in memory: it runs for
 * every message in the store stage.
 *
 * Precedence for a rule: device-group rule (groups in name order, first
 * containing the device wins) > stream rule > tenant default > storage
 * default. At each level a stored (operator) rule wins over config. A legal
 * hold applies when the tenant or the device is held; a stored hold or
 * release wins over config for the same tenant or device.
 */
import { idSetOf, sameIdList } from '../config/device-groups.ts';
import type { RetentionRule, TenantRetentionConfig } from '../config/sinks-config.ts';
import type { RecordSelection, RetentionTag, StoredLegalHold, StoredRetentionRule } from '../sinks/storage-sink.ts';

export const DAY_MS = 86_400_000;

export interface RetentionTags {
  readonly retentionClass: string;
  readonly expiresAtMs: number;
  readonly legalHold: boolean;
}

export interface RetentionTenantInput {
  readonly deviceGroups?: Readonly<Record<string, readonly string[]>>;
  readonly retention?: TenantRetentionConfig | undefined;
}

export interface RetentionPolicyInput {
  readonly tenants: Readonly<Record<string, RetentionTenantInput>>;
  readonly defaultRetention: RetentionRule;
}

export interface RetagStep {
  readonly selection: RecordSelection;
  readonly tag: RetentionTag;
}

const ruleKey = (stream: string, group: string) => `${stream}\u0000${group}`;

export function toTag(rule: RetentionRule): RetentionTag {
  return { retentionClass: rule.class, durationMs: rule.days * DAY_MS };
}

export class RetentionPolicy {
  #storedRules = new Map<string, Map<string, RetentionRule>>();
  #storedHolds = new Map<string, Map<string, boolean>>();
  readonly #groupsWithRule = new Map<string, string[]>();

  constructor(private input: RetentionPolicyInput) {}

  /**
   * Takes the tenants' device groups and retention config after a reload or
   * an API change. Returns whether anything that decides a record's tags
   * changed, i.e. whether stored records need a reconcile.
   */
  replaceTenants(tenants: RetentionPolicyInput['tenants']): boolean {
    const before = this.input.tenants;
    this.input = { ...this.input, tenants };
    this.#groupsWithRule.clear();
    const ids = new Set([...Object.keys(before), ...Object.keys(tenants)]);
    return [...ids].some((id) => this.tagInputChanged(id, before[id], tenants[id]));
  }

  /**
   * Only the retention config and the members of groups that have a rule
   * decide tags: a change to any other group (the common admin change) needs
   * no reconcile, and nothing here walks every group's members.
   */
  private tagInputChanged(tenantId: string, a: RetentionTenantInput | undefined, b: RetentionTenantInput | undefined): boolean {
    if (JSON.stringify(a?.retention ?? null) !== JSON.stringify(b?.retention ?? null)) return true;
    const ruled = new Set([...Object.keys(b?.retention?.deviceGroups ?? {}), ...Object.keys(a?.retention?.deviceGroups ?? {})]);
    for (const key of this.#storedRules.get(tenantId)?.keys() ?? []) ruled.add(key.split('\u0000')[1] ?? '');
    ruled.delete('');
    for (const group of ruled) if (!sameIdList(a?.deviceGroups?.[group], b?.deviceGroups?.[group])) return true;
    return false;
  }

  retentionFor(tenantId: string, stream: string, deviceId: string, receivedAtMs: number): RetentionTags {
    const rule = this.ruleFor(tenantId, stream, deviceId);
    return { retentionClass: rule.class, expiresAtMs: receivedAtMs + rule.days * DAY_MS, legalHold: this.isHeld(tenantId, deviceId) };
  }

  ruleFor(tenantId: string, stream: string, deviceId: string): RetentionRule {
    for (const group of this.groupsWithRule(tenantId, stream)) {
      if (idSetOf(this.groupDevices(tenantId, group)).has(deviceId)) return this.rule(tenantId, stream, group) as RetentionRule;
    }
    return this.streamRule(tenantId, stream);
  }

  private rule(tenantId: string, stream: string, group: string): RetentionRule | undefined {
    const stored = this.#storedRules.get(tenantId)?.get(ruleKey(stream, group));
    if (stored) return stored;
    const config = this.input.tenants[tenantId]?.retention;
    return group === '' ? config?.streams[stream] : config?.deviceGroups[group]?.[stream];
  }

  private streamRule(tenantId: string, stream: string): RetentionRule {
    return this.rule(tenantId, stream, '') ?? this.input.tenants[tenantId]?.retention?.default ?? this.input.defaultRetention;
  }

  private groupDevices(tenantId: string, group: string): readonly string[] {
    return this.input.tenants[tenantId]?.deviceGroups?.[group] ?? [];
  }

  /** Configured device groups that have a rule (stored or config) for the stream, in precedence order. */
  private groupsWithRule(tenantId: string, stream: string): string[] {
    // Per message (retentionFor): cached until the groups or the stored rules change.
    const key = ruleKey(tenantId, stream);
    let groups = this.#groupsWithRule.get(key);
    if (!groups) {
      groups = Object.keys(this.input.tenants[tenantId]?.deviceGroups ?? {}).sort().filter((g) => this.rule(tenantId, stream, g) !== undefined);
      this.#groupsWithRule.set(key, groups);
    }
    return groups;
  }

  hasDeviceGroup(tenantId: string, group: string): boolean {
    return this.input.tenants[tenantId]?.deviceGroups?.[group] !== undefined;
  }

  /** How to bring every stored record of (tenant, stream) to the current rules: groups first, then the rest. */
  retagPlan(tenantId: string, stream: string): RetagStep[] {
    const steps: RetagStep[] = [];
    const claimed = new Set<string>();
    for (const group of this.groupsWithRule(tenantId, stream)) {
      const devices = this.groupDevices(tenantId, group).filter((d) => !claimed.has(d));
      devices.forEach((d) => claimed.add(d));
      if (devices.length > 0) steps.push({ selection: { tenantId, stream, deviceIds: devices }, tag: toTag(this.rule(tenantId, stream, group) as RetentionRule) });
    }
    steps.push({ selection: { tenantId, stream, excludeDeviceIds: [...claimed] }, tag: toTag(this.streamRule(tenantId, stream)) });
    return steps;
  }

  tenantHeld(tenantId: string): boolean {
    return this.#storedHolds.get(tenantId)?.get('') ?? this.input.tenants[tenantId]?.retention?.legalHold.tenant ?? false;
  }

  isHeld(tenantId: string, deviceId: string): boolean {
    if (this.tenantHeld(tenantId)) return true;
    return this.#storedHolds.get(tenantId)?.get(deviceId) ?? this.input.tenants[tenantId]?.retention?.legalHold.devices.includes(deviceId) ?? false;
  }

  /** Devices individually held (config or stored, minus stored releases). */
  heldDevices(tenantId: string): string[] {
    const candidates = new Set([...(this.input.tenants[tenantId]?.retention?.legalHold.devices ?? []), ...(this.#storedHolds.get(tenantId)?.keys() ?? [])]);
    candidates.delete('');
    return [...candidates].filter((d) => (this.#storedHolds.get(tenantId)?.get(d) ?? true)).sort();
  }

  /** Streams with a rule for the tenant (config or stored). */
  streamsWithRules(tenantId: string): string[] {
    const config = this.input.tenants[tenantId]?.retention;
    const streams = new Set([...Object.keys(config?.streams ?? {}), ...Object.values(config?.deviceGroups ?? {}).flatMap((g) => Object.keys(g))]);
    for (const key of this.#storedRules.get(tenantId)?.keys() ?? []) streams.add(key.split('\u0000')[0] ?? '');
    return [...streams].filter((s) => s !== '').sort();
  }

  tenants(): string[] {
    return [...new Set([...Object.keys(this.input.tenants), ...this.#storedRules.keys(), ...this.#storedHolds.keys()])].sort();
  }

  /**
   * Replaces the operator overrides with what the sinks hold. Returns the
   * (tenant, stream) pairs whose rules changed and the tenants whose holds changed.
   */
  setStored(rules: readonly StoredRetentionRule[], holds: readonly StoredLegalHold[]): { rules: [string, string][]; holds: string[] } {
    const nextRules = new Map<string, Map<string, RetentionRule>>();
    for (const r of rules) {
      const byKey = nextRules.get(r.tenantId) ?? new Map<string, RetentionRule>();
      byKey.set(ruleKey(r.stream, r.deviceGroup), { class: r.retentionClass, days: r.days });
      nextRules.set(r.tenantId, byKey);
    }
    const nextHolds = new Map<string, Map<string, boolean>>();
    for (const h of holds) nextHolds.set(h.tenantId, (nextHolds.get(h.tenantId) ?? new Map<string, boolean>()).set(h.deviceId, h.held));
    const changedRules = diffKeys(this.#storedRules, nextRules, (a, b) => a.class === b.class && a.days === b.days)
      .map(([tenant, key]): [string, string] => [tenant, key.split('\u0000')[0] ?? '']);
    const changedHolds = [...new Set(diffKeys(this.#storedHolds, nextHolds, (a, b) => a === b).map(([tenant]) => tenant))];
    this.#storedRules = nextRules;
    this.#storedHolds = nextHolds;
    this.#groupsWithRule.clear();
    return { rules: uniquePairs(changedRules), holds: changedHolds };
  }
}

function diffKeys<V>(before: Map<string, Map<string, V>>, after: Map<string, Map<string, V>>, same: (a: V, b: V) => boolean): [string, string][] {
  const out: [string, string][] = [];
  for (const tenant of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(tenant) ?? new Map<string, V>();
    const b = after.get(tenant) ?? new Map<string, V>();
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(key);
      const y = b.get(key);
      if (x === undefined || y === undefined ? x !== y : !same(x, y)) out.push([tenant, key]);
    }
  }
  return out;
}

function uniquePairs(pairs: [string, string][]): [string, string][] {
  const seen = new Map(pairs.map((p) => [`${p[0]}\u0000${p[1]}`, p]));
  return [...seen.values()];
}
